"""labkit: multi-node Kubernetes labs in Docker containers, brought up by kubeadm."""

from labkit.errors import LabkitError

__all__ = ["LabkitError"]
