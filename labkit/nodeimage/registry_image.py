"""The registry image labkit runs beside each lab (labkit.lab.registry runs it): distribution,
built from the Go module proxy, static on scratch; and each release's content image, the
registry holding that release's images, filled once by the node image build."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Collection
from dataclasses import dataclass
from http import HTTPStatus

import docker
import docker.errors
from docker.models.containers import Container

from labkit.errors import LabkitError, StepFailed
from labkit.naming import LABEL_INPUTS, cache_dir, managed_labels
from labkit.nodeimage import components, gomod
from labkit.nodeimage.images import ImageRecipe, build_image, current_inputs
from labkit.pipeline import Progress, heartbeat
from labkit.versions import REGISTRY_CONTENT_REPOSITORY, REGISTRY_IMAGE, KubernetesVersion

REGISTRY_PORT = 5000
REGISTRY_START_TIMEOUT = 30.0
PUBLISHED_PORT = f"{REGISTRY_PORT}/tcp"
CONFIG_PATH = "/etc/distribution/config.yml"
STORAGE_DIR = "/var/lib/registry"
DOCKER_HUB = "docker.io"
# distribution's own configuration, environment variables (REGISTRY_AUTH...) over it.
CONFIG = {
    "version": 0.1,
    "log": {"level": "info", "accesslog": {"disabled": False}},
    "storage": {
        "filesystem": {"rootdirectory": STORAGE_DIR},
        "delete": {"enabled": True},
        "maintenance": {"uploadpurging": {"enabled": False}},
    },
    "http": {"addr": f":{REGISTRY_PORT}", "headers": {"X-Content-Type-Options": ["nosniff"]}},
}


def content_reference(version: KubernetesVersion) -> str:
    """The registry image holding one release's images."""
    return f"{REGISTRY_CONTENT_REPOSITORY}:{version}"


def build_registry_image(client: docker.DockerClient, progress: Progress) -> str:
    """distribution's `registry`, static, on scratch, with labkit's configuration."""
    component = components.distribution()
    with heartbeat(progress, f"building {component.name} {component.version}"):
        binary = gomod.build(component, progress.detail) / "registry"
    config = cache_dir() / "registry" / "config.yml"
    config.parent.mkdir(parents=True, exist_ok=True)
    # YAML is a superset of JSON: distribution reads this as its config.yml.
    config.write_text(json.dumps(CONFIG, indent=2) + "\n")
    recipe = ImageRecipe(
        REGISTRY_IMAGE,
        {"/registry": binary, CONFIG_PATH: config},
        entrypoint=("/registry", "serve", CONFIG_PATH),
        env={},
    )
    return build_image(client, recipe, progress)


@dataclass(frozen=True)
class StoredName:
    """Where an image reference lives in a lab's registry."""

    repository: str
    tag: str

    def __str__(self) -> str:
        return f"{self.repository}:{self.tag}"


def split_reference(reference: str) -> tuple[str, str, str]:
    """(host, path, tag) of a tagged reference, Docker's way: `busybox:1` is
    (docker.io, library/busybox, 1); no tag is `latest`; a digest is refused."""
    if "@" in reference:
        raise LabkitError(
            f"{reference}: a digest names no tag to push; push a tagged reference (name:tag)"
        )
    name, _, tag = reference.rpartition(":")
    if not name or "/" in tag:
        name, tag = reference, "latest"
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        host, path = first, rest
    else:
        host, path = DOCKER_HUB, name
    if host == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    return host, path, tag


def stored_names(reference: str, host_port: int) -> list[StoredName]:
    """The names an image is stored under so that each way a pod may name it resolves:
    its mirror's namespace (`docker.io/library/app`, for `app:1`) and the short name
    `localhost:<port>/app:1` finds (kind's convention); a `localhost:<port>/...` reference
    only the latter."""
    host, path, tag = split_reference(reference)
    if host in (f"localhost:{host_port}", f"127.0.0.1:{host_port}"):
        return [StoredName(path, tag)]
    short = path.removeprefix("library/") if host == DOCKER_HUB else path
    names = [StoredName(f"{host}/{path}", tag), StoredName(short, tag)]
    return names


def fill_content(
    client: docker.DockerClient,
    version: KubernetesVersion,
    references: Collection[str],
    progress: Progress,
) -> str:
    """The release's content image: a registry that holds `references` (images in the
    host's Docker), pushed into a short-lived registry and committed. Keyed by the
    registry's image and the images' IDs, so a second build does nothing."""
    build_registry_image(client, progress)
    target = content_reference(version)
    ids = [client.images.get(r).id for r in sorted(references)]
    base_id = client.images.get(REGISTRY_IMAGE).id
    key = hashlib.sha256("\n".join([base_id, *sorted(references), *ids]).encode()).hexdigest()
    key = key[:16]
    if current_inputs(client, target) == key:
        progress.detail(f"{target}: up to date ({key})")
        return target
    progress.say(f"   registry content {target}: {len(references)} images")
    # Short-lived: any free port Docker picks on 127.0.0.1 will do.
    container = client.containers.run(
        REGISTRY_IMAGE,
        name=f"labkit-registry-fill-{os.urandom(4).hex()}",
        detach=True,
        labels=managed_labels(),
        ports={PUBLISHED_PORT: ("127.0.0.1", None)},
    )
    try:
        port = published_port(container)
        wait_until_answering(port, container.name)
        for reference in sorted(references):
            for name in stored_names(reference, port)[:1]:
                push(client, reference, f"127.0.0.1:{port}", name)
        container.stop(timeout=5)
        labels = managed_labels(**{LABEL_INPUTS: key})
        changes = [f'LABEL {name}="{value}"' for name, value in labels.items()]
        repository, tag = target.rsplit(":", 1)
        container.commit(repository=repository, tag=tag, changes=changes)
    finally:
        container.remove(force=True)
    return target


def push(client: docker.DockerClient, reference: str, registry: str, name: StoredName) -> None:
    """`docker push` one image of the host's Docker under `name` into `registry`, by a
    temporary tag that is removed after."""
    image = client.images.get(reference)
    repository = f"{registry}/{name.repository}"
    image.tag(repository, name.tag)
    try:
        errors = [
            line.get("error") or line.get("errorDetail", {}).get("message", "")
            for line in client.images.push(repository, name.tag, stream=True, decode=True)
            if "error" in line or "errorDetail" in line
        ]
    finally:
        client.images.remove(f"{repository}:{name.tag}", noprune=True)
    if errors:
        raise StepFailed(
            operation=f"docker push {repository}:{name.tag}",
            reason=errors[-1],
            evidence={"push errors": "\n".join(errors)},
        )


def answers(port: int, timeout: float = 2.0) -> str | None:
    """None when the registry at 127.0.0.1:`port` answers `/v2/` with 200 (or 401, when
    it asks for credentials), else why not."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=timeout) as reply:
            return None if reply.status == HTTPStatus.OK else f"HTTP {reply.status}"
    except urllib.error.HTTPError as error:
        return None if error.code == HTTPStatus.UNAUTHORIZED else f"HTTP {error.code}"
    except (OSError, http.client.HTTPException) as error:
        return str(getattr(error, "reason", error))


def wait_until_answering(port: int, name: str, timeout: float = REGISTRY_START_TIMEOUT) -> None:
    """A registry just started listens within a second; its /v2/ is what pushes need."""
    deadline = time.monotonic() + timeout
    while (why := answers(port)) is not None:
        if time.monotonic() > deadline:
            raise StepFailed(
                operation=f"wait for registry {name}",
                reason=f"127.0.0.1:{port}/v2/ did not answer in {timeout:.0f}s ({why})",
                evidence={"hint": f"`docker logs {name}` shows why"},
            )
        time.sleep(0.1)


def published_port(container: Container) -> int:
    container.reload()
    bindings = container.attrs["NetworkSettings"]["Ports"].get(PUBLISHED_PORT) or []
    if bindings:
        return int(bindings[0]["HostPort"])
    fixed = (container.attrs["HostConfig"].get("PortBindings") or {}).get(PUBLISHED_PORT) or []
    return int(fixed[0]["HostPort"])
