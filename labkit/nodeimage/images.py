"""Container images built locally and tagged as kubeadm and the CNI name them.

No registry is reachable, so every image a node runs is made here: the control-plane
images hold one static binary each (as upstream's distroless images do); kube-proxy and
flanneld also need the iptables/nft tools, so they sit on a small Debian layer.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
import docker.models.images

from labkit.errors import StepFailed
from labkit.naming import LABEL_INPUTS, managed_labels
from labkit.pipeline import Progress

# kube-proxy and flanneld exec iptables, which Debian installs in /usr/sbin.
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class ImageRecipe:
    """One image: a base (scratch or an image reference), files to add, entrypoint."""

    reference: str
    files: Mapping[str, Path]  # path in the image -> file on the host
    base: str = "scratch"
    entrypoint: tuple[str, ...] = ()
    env: Mapping[str, str] | None = None

    def dockerfile(self) -> str:
        lines = [f"FROM {self.base}"]
        for index, target in enumerate(self.files):
            lines.append(f"COPY file{index} {target}")
        env = self.env if self.env is not None else {"PATH": DEFAULT_PATH}
        lines += [f'ENV {key}="{value}"' for key, value in env.items()]
        if self.entrypoint:
            lines.append(f"ENTRYPOINT {json.dumps(list(self.entrypoint))}")
        return "\n".join(lines) + "\n"

    def inputs_key(self) -> str:
        digest = hashlib.sha256(self.dockerfile().encode())
        for target, source in self.files.items():
            digest.update(target.encode() + b"\0" + _file_digest(source) + b"\0")
        return digest.hexdigest()[:16]


def _file_digest(path: Path) -> bytes:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.digest()


def current_inputs(client: docker.DockerClient, reference: str) -> str | None:
    try:
        image = client.images.get(reference)
    except docker.errors.ImageNotFound:
        return None
    return (image.labels or {}).get(LABEL_INPUTS)


def build_image(client: docker.DockerClient, recipe: ImageRecipe, progress: Progress) -> str:
    """Build the recipe unless an image with the same reference and inputs exists."""
    key = recipe.inputs_key()
    if current_inputs(client, recipe.reference) == key:
        progress.detail(f"{recipe.reference}: up to date ({key})")
        return recipe.reference
    progress.say(f"   image {recipe.reference}")
    with tempfile.TemporaryDirectory(prefix="labkit-image-") as context:
        for index, source in enumerate(recipe.files.values()):
            shutil.copy2(source, Path(context) / f"file{index}")
        (Path(context) / "Dockerfile").write_text(recipe.dockerfile())
        try:
            client.images.build(
                path=context,
                tag=recipe.reference,
                rm=True,
                forcerm=True,
                labels=managed_labels(**{LABEL_INPUTS: key}),
            )
        except docker.errors.BuildError as error:
            log = "".join(str(entry.get("stream", entry)) for entry in error.build_log)
            raise StepFailed(
                operation=f"build {recipe.reference}",
                reason=str(error),
                evidence={"docker build log": log},
            ) from error
    return recipe.reference


def import_rootfs(
    client: docker.DockerClient, tarball: Path, reference: str, progress: Progress
) -> str:
    """`docker import` a root filesystem tarball; the tarball's name carries its key."""
    key = tarball.stem.rsplit("-", 1)[-1]
    if current_inputs(client, reference) == key:
        return reference
    progress.say(f"   import {tarball.name} as {reference}")
    labels = managed_labels(**{LABEL_INPUTS: key})
    changes = [f'LABEL {name}="{value}"' for name, value in labels.items()]
    repository, tag = reference.rsplit(":", 1)
    client.api.import_image_from_file(str(tarball), repository=repository, tag=tag, changes=changes)
    return reference


def save_image(client: docker.DockerClient, reference: str, target: Path) -> Path:
    """`docker save` one image into a tarball that `ctr images import` reads."""
    with target.open("wb") as stream:
        for chunk in save_named(client.images.get(reference), reference):
            stream.write(chunk)
    return target


def save_named(image: docker.models.images.Image, reference: str) -> Iterator[bytes]:
    """`docker save` of the image under this reference. named=True would name the image
    ID's first tag, and another release may share the ID (pause 3.10.1 and 3.10.2 build to
    the same bytes); Docker lists tags without the docker.io/ (and library/) prefix."""
    short = reference.removeprefix("docker.io/").removeprefix("library/")
    return image.save(named=short if short in image.tags else reference)


def single_file_tar(name: str, data: bytes, mode: int = 0o644) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mode = mode
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
