"""What `labkit --version` and pytest's header say: labkit's version, the Kubernetes
releases it brings up and the node images built on this host.

labkit's version is the installed package's (pyproject.toml, through its metadata): there
is no second copy to forget.

>>> print("\\n".join(version_report().lines()))
labkit 0.2.0
Kubernetes v1.37.2 by default; supported minors v1.35, v1.36, v1.37
node image labkit/node:v1.37.2: Kubernetes v1.37.2, inputs 7ed366facbd6d266, built ...
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from typing import Any

from labkit.nodeimage.built import BuiltNodeImage
from labkit.versions import DEFAULT_KUBERNETES_VERSION, SUPPORTED_MINORS

DISTRIBUTION = "labkit"
# Long enough for a busy local engine to list its images, short enough that a header or a
# bug report is not held up by an engine that does not answer.
DOCKER_TIMEOUT = 5


@dataclass(frozen=True)
class VersionReport:
    labkit: str
    default_kubernetes: str
    supported_minors: tuple[str, ...]
    # None when Docker did not answer; docker_problem then says why.
    node_images: tuple[BuiltNodeImage, ...] | None
    docker_problem: str = ""

    def lines(self) -> list[str]:
        minors = ", ".join(self.supported_minors)
        lines = [
            f"labkit {self.labkit}",
            f"Kubernetes {self.default_kubernetes} by default; supported minors {minors}",
        ]
        if self.node_images is None:
            return [*lines, f"node images: not listed, {self.docker_problem}"]
        if not self.node_images:
            return [*lines, "node images: none built on this host (`labkit image build`)"]
        return lines + [f"node image {image.summary}" for image in self.node_images]

    def as_json(self) -> dict[str, Any]:
        return {
            "labkit": self.labkit,
            "kubernetes": {
                "default": self.default_kubernetes,
                "supported_minors": list(self.supported_minors),
            },
            "node_images": None
            if self.node_images is None
            else [image.as_dict() for image in self.node_images],
            "docker_problem": self.docker_problem or None,
        }


def labkit_version() -> str:
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        # Imported from a source tree that was never installed: no version to tell.
        return "(not installed: no package metadata; `make install`)"


def version_report() -> VersionReport:
    """Never raises for a Docker engine that is missing or does not answer: it is said in
    `docker_problem`, in one line."""
    images, problem = _node_images()
    return VersionReport(
        labkit=labkit_version(),
        default_kubernetes=DEFAULT_KUBERNETES_VERSION,
        supported_minors=tuple(f"v1.{minor}" for minor in SUPPORTED_MINORS),
        node_images=images,
        docker_problem=problem,
    )


def _node_images() -> tuple[tuple[BuiltNodeImage, ...] | None, str]:
    # Imported here: the Docker and HTTP clients take a while to import, and the header of
    # a unit test run that never needs them should not pay for it more than once.
    import docker.errors
    import requests

    from labkit.errors import LabkitError
    from labkit.host import docker_client, engine_address
    from labkit.nodeimage.built import built_node_images

    try:
        return tuple(built_node_images(docker_client(timeout=DOCKER_TIMEOUT))), ""
    except (LabkitError, docker.errors.DockerException, requests.RequestException) as error:
        cause = error.__cause__ if isinstance(error, LabkitError) and error.__cause__ else error
        reason = " ".join(str(cause).split())[:200]
        return None, f"Docker is not reachable at {engine_address()} ({reason})"
