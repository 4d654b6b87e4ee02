"""The node images built on this host, as their labels record them.

>>> [image.kubernetes_version for image in built_node_images(docker_client())]
['v1.37.2', 'v1.36.3']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from labkit.naming import LABEL_COMPONENT_PREFIX, LABEL_INPUTS, LABEL_KUBERNETES_VERSION

if TYPE_CHECKING:
    import docker


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
            return "components not recorded (built before labkit 0.2.0)"
        return ", ".join(f"{name} {version}" for name, version in self.components)


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
                components=tuple(
                    (name.removeprefix(LABEL_COMPONENT_PREFIX), version)
                    for name, version in labels.items()
                    if name.startswith(LABEL_COMPONENT_PREFIX)
                ),
            )
        )
    return sorted(found, key=lambda image: _release_order(image.kubernetes_version), reverse=True)


def _utc(created: str) -> str:
    """Docker's RFC 3339 time (2026-12-07T05:13:56.123456789Z) to the second."""
    return f"{created[:19]}Z" if created else ""


def _release_order(version: str) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else 0 for part in version.lstrip("v").split("."))
