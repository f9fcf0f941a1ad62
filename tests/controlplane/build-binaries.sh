#!/usr/bin/env bash
# Builds the control-plane binaries the integration tests start (kube-apiserver,
# kube-controller-manager, kube-scheduler, kwok, etcd) from Go modules pinned in
# tests/controlplane/gomod/*/go.mod, into .cache/controlplane/<key>/bin.
# The key hashes the go.mod/go.sum files and the Go version, so a second run
# builds nothing and a version bump builds into a fresh folder.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
gomod="$here/gomod"

# `go build` leaves the Kubernetes version variables at v0.0.0; stamp the pinned
# release so /version (and the test log) names what actually runs.
kube_version=$(awk '$1 == "require" && $2 == "k8s.io/kubernetes" {print $3}' "$gomod/kubernetes/go.mod")
IFS=. read -r kube_major kube_minor _ <<<"${kube_version#v}"
ldflags="-s -w"
kube_ldflags="$ldflags"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_ldflags+=" -X $pkg.gitVersion=$kube_version -X $pkg.gitMajor=$kube_major"
  kube_ldflags+=" -X $pkg.gitMinor=$kube_minor -X $pkg.gitTreeState=clean"
  kube_ldflags+=" -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

key=$( (go env GOVERSION; echo "$kube_ldflags"; cat "$gomod"/*/go.mod "$gomod"/*/go.sum) \
  | sha256sum | cut -c1-16)
bin="${CONTROLPLANE_CACHE:-$root/.cache/controlplane}/$key/bin"
mkdir -p "$bin"

export CGO_ENABLED=0 GOFLAGS="-mod=mod -trimpath -buildvcs=false"

build() { # module-dir output package [ldflags]
  local dir=$1 out=$2 pkg=$3 flags=${4:-$ldflags}
  if [[ -x "$bin/$out" ]]; then return 0; fi
  local started=$SECONDS
  (cd "$gomod/$dir" && go build -ldflags "$flags" -o "$bin/$out.tmp" "$pkg")
  mv "$bin/$out.tmp" "$bin/$out"
  echo "built $out in $((SECONDS - started))s" >&2
}

# Two cores: the Kubernetes binaries share most of their packages, so building
# them one after another reuses the build cache; etcd and kwok go beside them.
{
  build etcd etcd go.etcd.io/etcd/server/v3
  build kwok kwok sigs.k8s.io/kwok/cmd/kwok
} &
side=$!
build kubernetes kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$kube_ldflags"
build kubernetes kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager "$kube_ldflags"
build kubernetes kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler "$kube_ldflags"
wait "$side"
echo "$bin"
