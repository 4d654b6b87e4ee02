"""A node's images in containerd and the CRI: removing one so that a pod has to pull it.

>>> remove_image(lab.node("worker"), "registry.k8s.io/pause:3.10.1")  # every name it had
"""

from __future__ import annotations

import json

from labkit.constants import CONTAINERD_NAMESPACE
from labkit.errors import LabkitError
from labkit.lab.node import Node


def remove_image(node: Node, reference: str) -> list[str]:
    """Delete the image `reference` names from the node's containerd, under every name it
    has there, so that the next pod needing it has to pull it (and, with no registry
    reachable, cannot). Returns the names removed."""
    names = image_names(node, reference)
    if not names:
        raise LabkitError(f"{node.name}: containerd has no image {reference}")
    image_id = cri_image_id(node, reference)
    # The CRI also names each image by its config digest (`sha256:...`, crictl's IMAGE ID):
    # removing only the tag leaves the image there untagged, and `lab load-image` then
    # finds that ID and skips the node. The node image's `io.cri-containerd.pinned` label
    # only keeps the kubelet's image GC away; containerd 1.6 removes pinned images.
    node.exec(["ctr", "--namespace", CONTAINERD_NAMESPACE, "images", "rm", "--sync", *names])
    if image_id in _cri_image_ids(node):
        # containerd 1.6's CRI keeps a name that `ctr images import --digests` made
        # (`import-<date>@sha256:...`, which it cannot normalise) in its cache after the
        # name is gone; only a restart rebuilds the cache. Running containers keep running.
        node.exec(["systemctl", "restart", "containerd"])
        node.exec(
            ["timeout", "30", "sh", "-c", "until crictl info >/dev/null 2>&1; do sleep 0.2; done"]
        )
    if image_id in _cri_image_ids(node):
        raise LabkitError(
            f"{node.name}: the CRI still lists {reference} ({image_id}) after "
            "`ctr images rm` and a containerd restart"
        )
    return names


def cri_image_id(node: Node, reference: str) -> str:
    """The image's ID as the CRI (and the kubelet) know it: its config digest."""
    status = json.loads(node.output(["crictl", "inspecti", "-o", "json", reference]))
    return status["status"]["id"]


def _cri_image_ids(node: Node) -> set[str]:
    return set(node.exec(["crictl", "images", "--quiet", "--no-trunc"]).stdout.split())


def image_names(node: Node, reference: str) -> list[str]:
    """Every name containerd has for the image `reference` names (same manifest digest)."""
    listing = node.output(["ctr", "--namespace", CONTAINERD_NAMESPACE, "images", "list"])
    # Columns: REF TYPE DIGEST SIZE PLATFORMS LABELS.
    digests = {
        row[0]: row[2]
        for row in (line.split() for line in listing.splitlines()[1:])
        if len(row) > 2
    }
    wanted = digests.get(reference)
    return [name for name, digest in digests.items() if wanted and digest == wanted]
