"""A local Kubernetes control plane (etcd, kube-apiserver, controller-manager, scheduler,
kwok) for the integration tests, see cluster.py; and a real node beside it, see
realnode.py."""
