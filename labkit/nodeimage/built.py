"""The node images built on this host, as their labels record them.

>>> [image.kubernetes_version for image in built_node_images(docker_client())]
['v1.37.2', 'v1.36.3']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from labkit.naming import LABEL_COMPONENT_PREFIX, LABEL_INPUTS, LABEL_KUBERNETES_VERSION
from labkit.results import Result

if TYPE_CHECKING:
    import docker

# The order the image build names its components in (labkit.nodeimage.build).
COMPONENT_ORDER = (
    "kubernetes",
    "containerd",
    "runc",
    "cni-plugins",
    "crictl",
    "etcd",
    "coredns",
    "pause",
    "flannel",
    "flannel-cni-plugin",
)


@dataclass(frozen=True)
class BuiltNodeImage:
    references: tuple[str, ...]
    kubernetes_version: str
    inputs: str
    image_id: str
    # RFC 3339 in UTC, to the second (2026-12-07T05:13:56Z); empty where Docker has none.
    created: str
    # Every component's version as the build recorded it (containerd, runc, etcd, ...);
    # empty for an image built before labkit recorded them.
    components: tuple[tuple[str, str], ...] = ()

    @property
    def summary(self) -> str:
        return (
            f"{', '.join(self.references)}: Kubernetes {self.kubernetes_version}, "
            f"inputs {self.inputs or 'not recorded'}, built "
            + (f"{self.created[:19].replace('T', ' ')} UTC" if self.created else "when unknown")
        )

    @property
    def component_summary(self) -> str:
        if not self.components:
            return "components not recorded (built before labkit recorded them; rebuild it)"
        return ", ".join(f"{name} {version}" for name, version in self.components)

    def as_dict(self) -> dict[str, Any]:
        return {
            "references": list(self.references),
            "kubernetes_version": self.kubernetes_version,
            "inputs": self.inputs,
            "id": self.image_id,
            "created": self.created,
            "components": dict(self.components),
        }


@dataclass(frozen=True, repr=False)
class NodeImages(Result):
    """`labkit image list`: every node image built here, with what each carries."""

    images: tuple[BuiltNodeImage, ...]

    @property
    def ok(self) -> bool:
        return True

    def __str__(self) -> str:
        if not self.images:
            return "no node image built on this host (`labkit image build`)"
        return "\n".join(f"{image.summary}\n  {image.component_summary}" for image in self.images)

    def as_dict(self) -> dict[str, Any]:
        return {"node_images": [image.as_dict() for image in self.images]}

    def _headline(self) -> str:
        return f"{len(self.images)} node images"


def built_node_images(client: docker.DockerClient) -> list[BuiltNodeImage]:
    """Every tagged image whose labels record a Kubernetes release (whatever `labkit image
    build --image` named it), newest release first. An image a rebuild untagged is left out:
    no lab runs from it."""
    found = []
    for image in client.images.list(filters={"label": LABEL_KUBERNETES_VERSION}):
        if not image.tags:
            continue
        labels = image.labels or {}
        found.append(
            BuiltNodeImage(
                references=tuple(sorted(image.tags)),
                kubernetes_version=labels[LABEL_KUBERNETES_VERSION],
                inputs=labels.get(LABEL_INPUTS, ""),
                image_id=image.id.removeprefix("sha256:")[:12],
                created=_utc(str(image.attrs.get("Created", ""))),
                components=_components(labels),
            )
        )
    return sorted(found, key=lambda image: _release_order(image.kubernetes_version), reverse=True)


def _components(labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    recorded = {
        name.removeprefix(LABEL_COMPONENT_PREFIX): version
        for name, version in labels.items()
        if name.startswith(LABEL_COMPONENT_PREFIX)
    }
    rank = {name: index for index, name in enumerate(COMPONENT_ORDER)}
    return tuple(sorted(recorded.items(), key=lambda item: (rank.get(item[0], 99), item[0])))


def _utc(created: str) -> str:
    """Docker's RFC 3339 time (2026-12-07T05:13:56.123456789Z) to the second."""
    return f"{created[:19]}Z" if created else ""


def _release_order(version: str) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else 0 for part in version.lstrip("v").split("."))
