"""`labkit lab load-image`: an image from the host's Docker into nodes' containerd."""

from __future__ import annotations

import io
import json
import tarfile
import tempfile
from collections.abc import Callable
from typing import IO

import docker
import docker.errors

from labkit.constants import CONTAINERD_NAMESPACE, IMAGE_IMPORT_TIMEOUT
from labkit.errors import LabkitError
from labkit.lab.node import Node
from labkit.naming import cache_dir
from labkit.nodeimage.images import save_named
from labkit.parallel import parallel
from labkit.spec.fields import shown
from labkit.spec.image_reference import image_reference_problem

IMPORT_DIR = "/var/tmp"  # on the node's /var volume, not its memory-backed /tmp


def load_image(
    client: docker.DockerClient,
    reference: str,
    nodes: list[Node],
    say: Callable[[str], None] = print,
) -> list[str]:
    """Save the image once and import it into every node that lacks it; returns the nodes
    it was loaded into."""
    # Docker answers a malformed reference with a 400, which reads as the engine failing.
    problem = image_reference_problem(reference)
    if problem:
        raise LabkitError(f"image {shown(reference)} {problem}")
    try:
        image = client.images.get(reference)
    except docker.errors.ImageNotFound:
        raise LabkitError(
            f"image {reference!r} is not in the host's Docker; build or load it "
            "there first (`docker images` lists what is there)"
        ) from None
    wanted = [n for n in nodes if not _has_image(n, reference, image.id)]
    for node in nodes:
        if node not in wanted:
            say(f"{node.name}: already has {reference} ({image.id[:19]})")
    if not wanted:
        return []
    with tempfile.TemporaryFile(dir=cache_dir()) as archive:
        for chunk in save_named(image, reference):
            archive.write(chunk)
        size = archive.tell()
        archive.seek(0)
        wrapped = _wrap(archive, size)

    def load(node: Node) -> None:
        import_into_node(node, wrapped, "labkit-image.tar", IMAGE_IMPORT_TIMEOUT)
        say(f"{node.name}: loaded {reference}")

    parallel(wanted, load)
    return [n.name for n in wanted]


def import_into_node(
    node: Node, wrapped: bytes | IO[bytes], name: str, timeout: float = IMAGE_IMPORT_TIMEOUT
) -> None:
    """Copy `wrapped` (a tar holding the image archive `name`) into the node, import every
    image of the archive into the kubelet's containerd in one call, and remove the copy."""
    node.container.put_archive(IMPORT_DIR, wrapped)
    archive = f"{IMPORT_DIR}/{name}"
    node.exec(
        ["ctr", "--namespace", CONTAINERD_NAMESPACE, "images", "import", archive],
        timeout=timeout,
    )
    node.exec(["rm", "-f", archive])


def image_exists(client: docker.DockerClient, reference: str) -> bool:
    """The host's Docker has an image of this reference."""
    try:
        client.images.get(reference)
    except docker.errors.ImageNotFound:
        return False
    return True


def _has_image(node: Node, reference: str, image_id: str) -> bool:
    """The node has this reference, pointing at this image (a node that holds the image
    under another name only still needs the reference)."""
    result = node.exec(["crictl", "inspecti", "-o", "json", reference], check=False)
    if not result.ok:
        return False
    try:
        return json.loads(result.stdout)["status"]["id"] == image_id
    except (ValueError, KeyError):
        return False


def _wrap(archive: io.BufferedIOBase, size: int) -> bytes:
    """put_archive wants a tar: the image tarball becomes one member of it."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as outer:
        info = tarfile.TarInfo("labkit-image.tar")
        info.size = size
        outer.addfile(info, archive)
    return buffer.getvalue()
