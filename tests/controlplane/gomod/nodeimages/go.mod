module modelrelease.dev/tests/controlplane/nodeimages

go 1.26.0
