"""The network plugin: the node image's manifest, with the lab's pod subnet filled in and
flannel pointed straight at the API server."""

from __future__ import annotations

import yaml

from labkit.constants import API_SERVER_PORT, CNI_MANIFEST, KUBECTL_ON_NODE
from labkit.lab.node import Node

# kind's contract: the node image carries its default CNI with `{{ .PodSubnet }}` in it.
RENDERED_MANIFEST = "/etc/labkit/cni.yaml"
# flannel's daemon container in labkit/nodeimage/files/default-cni.yaml.
FLANNEL_CONTAINER = "kube-flannel"


def apply_cni_manifest(control_plane: Node, pod_subnet: str) -> None:
    """Render and `kubectl apply` the manifest on the control plane; applying again renders
    the same DaemonSet and does not roll it. Raises ExecFailed with kubectl's output when
    the API refuses it."""
    manifest = control_plane.read_file(CNI_MANIFEST).decode()
    control_plane.write_file(
        RENDERED_MANIFEST,
        render_cni_manifest(manifest, pod_subnet, control_plane.lab_address()).encode(),
    )
    control_plane.exec([*KUBECTL_ON_NODE, "apply", "-f", RENDERED_MANIFEST])


def render_cni_manifest(manifest: str, pod_subnet: str, api_server_host: str) -> str:
    """The image's manifest with the pod subnet, and flannel reaching the API server at
    `api_server_host` (an address or name in the API server certificate) instead of the
    `kubernetes` Service. Until kube-proxy has written its rules on a node, the Service
    address leaves the node by its default route: flannel crash-loops (10 s, then 20 s) and
    sends its requests off the lab. kind does the same for kindnet (CONTROL_PLANE_ENDPOINT).
    A node image with another CNI (kind's contract allows any) gets only the subnet."""
    documents = [
        d for d in yaml.safe_load_all(manifest.replace("{{ .PodSubnet }}", pod_subnet)) if d
    ]
    daemon_sets = [d for d in documents if d.get("kind") == "DaemonSet"]
    for container in (
        c
        for d in daemon_sets
        for c in d["spec"]["template"]["spec"]["containers"]
        if c["name"] == FLANNEL_CONTAINER
    ):
        # Explicit env wins over the kubelet's service variables; client-go's in-cluster
        # config reads exactly these two.
        container.setdefault("env", []).extend(
            [
                {"name": "KUBERNETES_SERVICE_HOST", "value": api_server_host},
                {"name": "KUBERNETES_SERVICE_PORT", "value": str(API_SERVER_PORT)},
            ]
        )
    return yaml.safe_dump_all(documents, sort_keys=False)
