"""The network plugin: the node image's manifest, with the lab's pod subnet filled in."""

from __future__ import annotations

from labkit.kubeadm.config import ADMIN_CONF
from labkit.lab.node import Node

# kind's contract: the node image carries its default CNI with `{{ .PodSubnet }}` in it.
CNI_MANIFEST = "/kind/manifests/default-cni.yaml"
RENDERED_MANIFEST = "/etc/labkit/cni.yaml"


def apply_cni_manifest(control_plane: Node, pod_subnet: str) -> None:
    """Render and `kubectl apply` the manifest on the control plane; applying again is
    harmless. Raises ExecFailed with kubectl's output when the API refuses it."""
    manifest = control_plane.read_file(CNI_MANIFEST).decode()
    control_plane.write_file(RENDERED_MANIFEST,
                             manifest.replace("{{ .PodSubnet }}", pod_subnet).encode())
    control_plane.exec(["kubectl", "--kubeconfig", ADMIN_CONF, "apply", "-f", RENDERED_MANIFEST])
