"""`labkit lab push`: images from the host's Docker into the lab's registry, where every
node pulls them by their own names (through the mirrors) or as `localhost:<port>/<name>`.

    result = push_images(LabModel.find(docker_client(), "demo"), ["myapp:1"])
    print(result)  # what `labkit lab push demo myapp:1` prints
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import docker.errors

from labkit.errors import LabkitError
from labkit.lab.model import LabModel
from labkit.nodeimage.registry_image import (
    StoredName,
    published_port,
    push,
    stored_names,
    wait_until_answering,
)
from labkit.results import Result
from labkit.spec.fields import shown
from labkit.spec.image_reference import image_reference_problem


@dataclass(frozen=True)
class PushedImage:
    reference: str
    image_id: str
    # How pods name it: its own reference, and kind's `localhost:<port>/<name>:<tag>`.
    pull_as: tuple[str, ...]


@dataclass(frozen=True, repr=False)
class PushResult(Result):
    """Images pushed into a lab's registry (a failure raises, so `.ok` is True)."""

    lab: str
    registry: str
    images: tuple[PushedImage, ...]

    @property
    def ok(self) -> bool:
        return True

    def __str__(self) -> str:
        lines = [f"pushed {len(self.images)} images into {self.registry} (lab {self.lab!r})"]
        for image in self.images:
            lines.append(f"  {image.reference}: pods pull it as {' or '.join(image.pull_as)}")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "lab": self.lab,
            "ok": self.ok,
            "registry": self.registry,
            "images": [
                {"reference": i.reference, "id": i.image_id, "pull_as": list(i.pull_as)}
                for i in self.images
            ],
        }

    def _headline(self) -> str:
        return f"{self.lab!r}: {len(self.images)} images"


def push_images(
    lab: LabModel, references: Sequence[str], *, say: Callable[[str], None] = print
) -> PushResult:
    """Push each image (all checked first: in the host's Docker, tagged) into the lab's
    registry under every name a pod may use for it."""
    registry = lab.registry
    if registry is None:
        raise LabkitError(
            f"lab {lab.name!r} has no registry (it was made with `registry: none`); "
            f"`labkit lab load-image {lab.name} IMAGE` side-loads an image instead"
        )
    registry.container.reload()
    if registry.container.status != "running":
        raise LabkitError(
            f"the registry of lab {lab.name!r} ({registry.name}) is "
            f"{registry.container.status}; `labkit lab start {lab.name}` starts it"
        )
    if not references:
        raise LabkitError("push: name at least one image (name:tag)")
    port = published_port(registry.container)
    wait_until_answering(port, registry.name)
    wanted = [
        (reference, _image_id(lab, reference), stored_names(reference, port))
        for reference in references
    ]
    pushed = []
    for reference, image_id, names in wanted:
        for name in names:
            push(lab.client, reference, f"127.0.0.1:{port}", name)
        pushed.append(PushedImage(reference, image_id, _pull_as(reference, names, port)))
        say(f"{reference}: pushed ({image_id[7:19]})")
    return PushResult(lab.name, f"localhost:{port}", tuple(pushed))


def _image_id(lab: LabModel, reference: str) -> str:
    problem = image_reference_problem(reference)
    if problem:
        raise LabkitError(f"image {shown(reference)} {problem}")
    try:
        return lab.client.images.get(reference).id
    except docker.errors.ImageNotFound:
        raise LabkitError(
            f"image {reference!r} is not in the host's Docker; build, pull or tag it there "
            "first (`docker images` lists what is there)"
        ) from None


def _pull_as(reference: str, names: list[StoredName], port: int) -> tuple[str, ...]:
    short = f"localhost:{port}/{names[-1]}"
    return (reference, short) if reference != short else (reference,)
