"""Breaking a lab on purpose and mending it: what the troubleshooting scenarios (and users
practising) do to reproduce a symptom, and the fixes they then apply.

Every wait here ends on a watch event, as `labkit.lab.waits` does; nothing sleeps.
"""

from __future__ import annotations

import time

from labkit.errors import LabkitError
from labkit.lab import waits
from labkit.lab.bringup import ADMIN_CONF, CNI_MANIFEST, READY_TIMEOUT
from labkit.lab.lab import Lab
from labkit.lab.node import Node
from labkit.spec import LabSpec

CNI_MANIFEST_COPY = "/etc/labkit/cni.yaml"
CONTAINERD_NAMESPACE = "k8s.io"  # the one the kubelet's CRI uses
# The node image pins its preloaded images so that the kubelet's image GC never removes
# them; `ctr images rm` ignores the label, crictl and the CRI honour it in containerd 1.7+.
PINNED_LABEL = "io.cri-containerd.pinned"
COREDNS_SELECTOR = "k8s-app=kube-dns"
COREDNS_REPLICAS = 2


def lab_spec(lab: Lab) -> LabSpec:
    """The spec the lab was brought up from, as `lab up` saved it."""
    path = lab.state_dir / "spec.yaml"
    if not path.exists():
        raise LabkitError(f"lab {lab.name!r} has no saved spec at {path}; was it brought up "
                          "by this user?")
    return LabSpec.from_file(path)


def install_cni(lab: Lab, timeout: float = READY_TIMEOUT) -> float:
    """Apply the node image's flannel manifest with the lab's pod subnet, as `lab up` does
    for `cni: flannel`, then wait until every node is Ready and CoreDNS runs. Returns the
    seconds it took. Applying again is harmless."""
    started = time.monotonic()
    node = lab.control_plane
    subnet = lab_spec(lab).networking.pod_subnet
    manifest = node.read_file(CNI_MANIFEST).decode().replace("{{ .PodSubnet }}", subnet)
    node.write_file(CNI_MANIFEST_COPY, manifest.encode())
    node.exec(["kubectl", "--kubeconfig", ADMIN_CONF, "apply", "-f", CNI_MANIFEST_COPY])
    wait_until_healthy(lab, max(1.0, timeout - (time.monotonic() - started)))
    return time.monotonic() - started


def wait_until_healthy(lab: Lab, timeout: float = READY_TIMEOUT) -> None:
    """Every node Ready and CoreDNS Running and Ready, or `StepFailed`-like LabkitError."""
    api = lab.api_client()
    deadline = time.monotonic() + timeout
    if not waits.nodes_ready(api, [n.name for n in lab.nodes], timeout):
        raise TimeoutError(f"lab {lab.name}: not every node Ready within {timeout:.0f}s")
    remaining = max(1.0, deadline - time.monotonic())
    if not waits.pods_ready(api, "kube-system", COREDNS_SELECTOR, COREDNS_REPLICAS, remaining):
        raise TimeoutError(f"lab {lab.name}: CoreDNS not Running and Ready within "
                           f"{timeout:.0f}s")


def remove_image(node: Node, reference: str) -> None:
    """Delete `reference` from the node's containerd, so that the next pod needing it has
    to pull it (and, with no registry reachable, cannot)."""
    ctr = ["ctr", "--namespace", CONTAINERD_NAMESPACE, "images"]
    node.exec([*ctr, "label", reference, f"{PINNED_LABEL}="])
    node.exec([*ctr, "rm", "--sync", reference])
    if has_image(node, reference):
        raise LabkitError(f"{node.name}: {reference} is still in containerd after `ctr images "
                          "rm`")


def has_image(node: Node, reference: str) -> bool:
    listing = node.exec(["ctr", "--namespace", CONTAINERD_NAMESPACE, "images", "list", "-q"])
    return reference in listing.stdout.split()
