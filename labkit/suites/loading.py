"""The test images into the nodes as one archive.

Most test images are one Debian root filesystem plus a file or two: saved one by one
(`lab load-image`'s way) that layer is written, copied into each node and imported once per
image. One `docker save` of every reference writes each layer once, and containerd imports
every image of the archive in one `ctr images import`.
"""

from __future__ import annotations

import json
import tarfile
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import docker

from labkit.constants import IMAGE_IMPORT_TIMEOUT
from labkit.errors import StepFailed
from labkit.lab.images import import_into_node
from labkit.lab.node import Node
from labkit.naming import cache_dir
from labkit.parallel import parallel

ARCHIVE_NAME = "labkit-test-images.tar"
# One archive holds every test image: its import takes longer than one image's.
IMPORT_TIMEOUT = 4 * IMAGE_IMPORT_TIMEOUT


def load_images(
    client: docker.DockerClient,
    references: Sequence[str],
    nodes: Sequence[Node],
    say: Callable[[str], None] = print,
) -> dict[str, list[str]]:
    """Import into each node the references it lacks (or holds as another image), all in
    one archive; returns, per node loaded, the references it lacked."""
    ids = {reference: client.images.get(reference).id for reference in references}
    held = dict(zip((n.name for n in nodes), parallel(list(nodes), node_images), strict=True))
    wanted = {
        node.name: [ref for ref in references if (ref, ids[ref]) not in held[node.name]]
        for node in nodes
    }
    wanted = {name: refs for name, refs in wanted.items() if refs}
    for node in nodes:
        if node.name not in wanted:
            say(f"{node.name}: already has the {len(references)} test images")
    if not wanted:
        return {}
    union = [ref for ref in references if any(ref in refs for refs in wanted.values())]
    with tempfile.TemporaryDirectory(dir=cache_dir()) as work:
        outer = Path(work) / "outer.tar"
        size = write_wrapped_save(client, union, outer)
        say(f"   one archive of {len(union)} test images: {size / 2**20:.0f} MiB")

        def load(node: Node) -> None:
            with outer.open("rb") as stream:
                import_into_node(node, stream, ARCHIVE_NAME, IMPORT_TIMEOUT)
            say(f"{node.name}: loaded {len(wanted[node.name])} test images")

        parallel([node for node in nodes if node.name in wanted], load)
    return wanted


def node_images(node: Node) -> set[tuple[str, str]]:
    """(reference, image ID) of every image the node's containerd holds, in one call."""
    listed = json.loads(node.exec(["crictl", "images", "-o", "json"]).stdout)
    return {(tag, image["id"]) for image in listed["images"] for tag in image.get("repoTags") or ()}


def write_wrapped_save(client: docker.DockerClient, references: Sequence[str], target: Path) -> int:
    """`docker save REF...` as the one member of a tar (what put_archive unpacks); returns
    the saved archive's size."""
    with tempfile.NamedTemporaryFile(dir=target.parent) as saved:
        for chunk in save_all(client, references):
            saved.write(chunk)
        saved.flush()
        size = saved.tell()
        with tarfile.open(target, mode="w") as outer:
            outer.add(saved.name, arcname=ARCHIVE_NAME)
    return size


def save_all(client: docker.DockerClient, references: Sequence[str]) -> Iterator[bytes]:
    """Docker's image export with several names (docker-py's get_image takes one): each
    layer once, each reference tagged as given."""
    api = client.api
    response = api._get(api._url("/images/get"), params={"names": list(references)}, stream=True)
    if response.status_code != 200:
        raise StepFailed(
            operation="docker save of the test images",
            reason=f"the engine answered {response.status_code}",
            evidence={"response": response.text[-2000:]},
        )
    return api._stream_raw_result(response, 2 << 20, False)
