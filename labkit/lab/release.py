"""A release's material for nodes of another release: its kubeadm, kubelet and kubectl, and
the component images its kubeadm names, all taken from that release's own node image.

An upgrade puts the target release's material on every node; a skewed worker (an older
kubelet) gets the control plane's kubeadm and images. Any two built releases therefore work
together without an image made for the pair.
"""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass

import docker
import docker.errors

from labkit.constants import NODE_IMAGE_LIST
from labkit.errors import LabkitError
from labkit.lab.images import image_exists, load_image
from labkit.lab.node import Node
from labkit.naming import managed_labels
from labkit.pipeline import Progress
from labkit.versions import KubernetesVersion

RELEASE_BINARIES = ("kubeadm", "kubelet", "kubectl")
BINARY_DIR = "/usr/bin"


@dataclass(frozen=True)
class ReleaseMaterial:
    version: KubernetesVersion
    binaries: dict[str, bytes]
    images: tuple[str, ...]

    def install(self, node: Node, names: tuple[str, ...]) -> None:
        """Write the named binaries over the node's own (the kubelet must be stopped)."""
        for name in names:
            node.write_file(f"{BINARY_DIR}/{name}", self.binaries[name], 0o755)

    def load_images(
        self, client: docker.DockerClient, nodes: list[Node], progress: Progress
    ) -> None:
        for reference in self.images:
            load_image(client, reference, nodes, say=progress.detail)


def ensure_node_image(
    client: docker.DockerClient, version: KubernetesVersion, progress: Progress
) -> str:
    """The release's node image, built first when it is missing (cached: minutes the first
    time, seconds after). Its component images, which the host's Docker must hold for
    loading, are rebuilt by the same build when they are gone."""
    from labkit.nodeimage.build import build_node_image

    try:
        client.images.get(version.node_image)
        missing = [
            r for r in _image_list(client, version.node_image) if not image_exists(client, r)
        ]
    except docker.errors.ImageNotFound:
        missing = ["the node image"]
    if missing:
        progress.say(f"   building {version.node_image} ({', '.join(missing)} missing)")
        build_node_image(version, progress=progress)
    return version.node_image


def release_material(
    client: docker.DockerClient, version: KubernetesVersion, progress: Progress
) -> ReleaseMaterial:
    image = ensure_node_image(client, version, progress)
    binaries = {
        name: _read_from_image(client, image, f"{BINARY_DIR}/{name}") for name in RELEASE_BINARIES
    }
    return ReleaseMaterial(version, binaries, tuple(_image_list(client, image)))


def _image_list(client: docker.DockerClient, image: str) -> list[str]:
    text = _read_from_image(client, image, NODE_IMAGE_LIST).decode()
    return [line.strip() for line in text.splitlines() if line.strip()]


def _read_from_image(client: docker.DockerClient, image: str, path: str) -> bytes:
    """One file of an image, from a container that is created but never started."""
    container = client.containers.create(image, labels=managed_labels(), command=["true"])
    try:
        stream, _ = container.get_archive(path)
        data = b"".join(stream)
    except docker.errors.NotFound:
        raise LabkitError(f"{image} has no {path}: rebuild it with `labkit image build`") from None
    finally:
        container.remove(force=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        member = archive.getmembers()[0]
        extracted = archive.extractfile(member)
        assert extracted is not None, f"{path} in {image} is not a file"
        return extracted.read()
