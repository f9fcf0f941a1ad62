"""A real worker node (tests/controlplane/realnode.py) on a control plane of its own."""
