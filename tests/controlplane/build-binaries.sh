#!/usr/bin/env bash
# Builds the control-plane binaries the integration tests start (kube-apiserver,
# kube-controller-manager, kube-scheduler, kwok, etcd, and kubectl for the tests that
# apply manifests as a user would) from Go modules pinned in
# tests/controlplane/gomod/*/go.mod, into .cache/controlplane/<key>/bin.
# The key hashes the go.mod/go.sum files, the Go sources under gomod/, the link
# flags and the Go version, so a second run builds nothing and a version bump
# builds into a fresh folder.
#
# --real-node also builds what a real worker node needs (realnode.py): kubelet and
# kube-proxy from the same Kubernetes module, containerd, containerd-shim-runc-v2 and
# ctr (gomod/containerd), and the static programs of its images (gomod/nodeimages:
# pause, webserve). runc and the CNI plugins come from Debian packages.
#
# For the GitOps tests it always builds kstatus (gomod/kstatus: cli-utils' kstatus, what
# Flux's health checks run) and argocd-health (gomod/argocd-health: Argo CD's settings
# reading and Lua health VM), and copies the Argo CD and Flux CRDs and Argo CD's install
# manifest from the modules pinned in gomod/gitops-crds into <key>/gitops.
#
# It always builds helm (gomod/helm) too, for the tests of charts/modelrelease.
set -euo pipefail

real_node=false
for arg in "$@"; do
  case $arg in
    --real-node) real_node=true ;;
    *) echo "usage: $0 [--real-node]" >&2; exit 2 ;;
  esac
done

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

# helm stamps its version as its Makefile does (`helm version`), and the Kubernetes
# version that `helm template` and `helm lint` assume from the client-go it is built with.
helm_version=$(awk '$1 == "require" && $2 == "helm.sh/helm/v3" {print $3}' "$gomod/helm/go.mod")
helm_kube_minor=$(awk '$1 == "k8s.io/client-go" {print $2}' "$gomod/helm/go.mod" | cut -d. -f2)
helm_ldflags="$ldflags -X helm.sh/helm/v3/internal/version.version=$helm_version"
helm_ldflags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
  helm_ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$helm_kube_minor"
done

# containerd stamps its version the same way (`containerd --version`, ctr version).
containerd_version=$(awk '$1 == "require" && $2 == "github.com/containerd/containerd/v2" {print $3}' \
  "$gomod/containerd/go.mod")
containerd_pkg=github.com/containerd/containerd/v2
containerd_ldflags="$ldflags -X $containerd_pkg/version.Version=$containerd_version"
containerd_ldflags+=" -X $containerd_pkg/version.Package=github.com/containerd/containerd"
# As containerd's Makefile: no man-page generator; the shim speaks ttrpc only.
containerd_tags=urfave_cli_no_docs
shim_tags="urfave_cli_no_docs no_grpc"

key=$( (go env GOVERSION; echo "$kube_ldflags"; echo "$containerd_ldflags $containerd_tags $shim_tags"
  cat "$gomod"/*/go.mod "$gomod"/*/go.sum
  find "$gomod" -name '*.go' | LC_ALL=C sort | xargs cat) \
  | sha256sum | cut -c1-16)
bin="${CONTROLPLANE_CACHE:-$root/.cache/controlplane}/$key/bin"
mkdir -p "$bin"

export CGO_ENABLED=0 GOFLAGS="-mod=mod -trimpath -buildvcs=false"

# The GitOps tools' CRDs and Argo CD's install manifest (its argocd-cm), read from their
# modules in the module cache.
gitops_files() {
  local out="$bin/../gitops"
  if [[ -d "$out" ]]; then return 0; fi
  local modules=(github.com/argoproj/argo-cd/v3 github.com/fluxcd/kustomize-controller
    github.com/fluxcd/source-controller)
  local argocd kustomize source
  (cd "$gomod/gitops-crds" && go mod download "${modules[@]}")
  { read -r argocd; read -r kustomize; read -r source; } < <(cd "$gomod/gitops-crds" &&
    go list -m -f '{{.Dir}}' "${modules[@]}")
  rm -rf "$out.tmp" && mkdir -p "$out.tmp"
  cp "$argocd/manifests/crds/application-crd.yaml" "$argocd/manifests/install.yaml" "$out.tmp/"
  cp "$kustomize/config/crd/bases/kustomize.toolkit.fluxcd.io_kustomizations.yaml" "$out.tmp/"
  cp "$source/config/crd/bases/source.toolkit.fluxcd.io_gitrepositories.yaml" "$out.tmp/"
  chmod -R u+w "$out.tmp" # the module cache is read-only
  mv "$out.tmp" "$out"
}

build() { # module-dir output package [ldflags [tags]]
  local dir=$1 out=$2 pkg=$3 flags=${4:-$ldflags} tags=${5:-}
  if [[ -x "$bin/$out" ]]; then return 0; fi
  local started=$SECONDS
  (cd "$gomod/$dir" && go build -tags "$tags" -ldflags "$flags" -o "$bin/$out.tmp" "$pkg")
  mv "$bin/$out.tmp" "$bin/$out"
  echo "built $out in $((SECONDS - started))s" >&2
}

# Two cores: the Kubernetes binaries share most of their packages, so building
# them one after another reuses the build cache; etcd and kwok go beside them.
# The real node's parts follow the same split: kubelet and kube-proxy after the
# control plane, containerd's three binaries beside them.
{
  build etcd etcd go.etcd.io/etcd/server/v3
  build kwok kwok sigs.k8s.io/kwok/cmd/kwok
  build kstatus kstatus .
  build argocd-health argocd-health .
  build helm helm helm.sh/helm/v3/cmd/helm "$helm_ldflags"
  gitops_files
  if $real_node; then
    build nodeimages pause ./pause
    build nodeimages webserve ./webserve
    build containerd containerd $containerd_pkg/cmd/containerd "$containerd_ldflags" \
      "$containerd_tags"
    build containerd containerd-shim-runc-v2 $containerd_pkg/cmd/containerd-shim-runc-v2 \
      "$containerd_ldflags" "$shim_tags"
    build containerd ctr $containerd_pkg/cmd/ctr "$containerd_ldflags" "$containerd_tags"
  fi
} &
side=$!
build kubernetes kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$kube_ldflags"
build kubernetes kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager "$kube_ldflags"
build kubernetes kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler "$kube_ldflags"
build kubernetes kubectl k8s.io/kubernetes/cmd/kubectl "$kube_ldflags"
if $real_node; then
  build kubernetes kubelet k8s.io/kubernetes/cmd/kubelet "$kube_ldflags"
  build kubernetes kube-proxy k8s.io/kubernetes/cmd/kube-proxy "$kube_ldflags"
fi
wait "$side"
echo "$bin"
