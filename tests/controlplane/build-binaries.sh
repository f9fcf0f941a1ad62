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

key=$( (go env GOVERSION; cat "$gomod"/*/go.mod "$gomod"/*/go.sum) | sha256sum | cut -c1-16)
bin="${CONTROLPLANE_CACHE:-$root/.cache/controlplane}/$key/bin"
mkdir -p "$bin"

export CGO_ENABLED=0 GOFLAGS="-mod=mod -trimpath -buildvcs=false"
ldflags="-s -w"

build() { # module-dir output package
  local dir=$1 out=$2 pkg=$3
  if [[ -x "$bin/$out" ]]; then return 0; fi
  local started=$SECONDS
  (cd "$gomod/$dir" && go build -ldflags "$ldflags" -o "$bin/$out.tmp" "$pkg")
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
build kubernetes kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver
build kubernetes kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager
build kubernetes kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler
wait "$side"
echo "$bin"
