// The CRDs of the GitOps tools whose objects docs/gitops.md shows: the tests validate
// those objects against these schemas on the test API server. Nothing here is built;
// build-binaries.sh downloads these modules and copies their CRD files.
module modelrelease.dev/tests/controlplane/gitops-crds

go 1.26.0

require (
	// Argo CD v3.5.7: manifests/crds/application-crd.yaml
	github.com/argoproj/argo-cd/v3 v3.5.7
	// Flux v2.9.5 ships kustomize-controller and source-controller v1.9.5:
	// config/crd/bases/*.yaml
	github.com/fluxcd/kustomize-controller v1.9.5
	github.com/fluxcd/source-controller v1.9.5
)
