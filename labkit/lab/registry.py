"""Each lab's image registry: distribution (built here from the Go module proxy) in a
container of the lab, labelled and removed with it, as kind's docs run `registry:3` beside
a cluster.

One per lab, not one per host: a scenario that stops, breaks or fills its registry touches
only its own lab, and a lab's pushes are its own. It starts from a content image that
holds the lab's release already (the component images, flannel, the toolbox: filled once
per release by `labkit image build`), so it is up in well under a second and holds
nothing to copy; what is pushed later lives in the container's own layer, which survives
its stops, an engine restart and a reboot, and goes with `lab down`.

Every node's containerd resolves `registry.k8s.io`, `docker.io`, `ghcr.io` and `quay.io`
through it (`/etc/containerd/certs.d/<host>/hosts.toml`, each upstream host a namespace of
its own: `registry.k8s.io/pause` is stored as `registry.k8s.io/pause`), and it is the
only server those names have: a reference nobody built or pushed fails at once with the
registry's own `manifest unknown`, never after a DNS timeout. For pushes from the host it
listens on 127.0.0.1 only, at a port fixed when the lab is made; `localhost:<port>/<name>`
(kind's convention) resolves to it on the host and on every node.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from http import HTTPStatus

import docker
import docker.errors
from docker.models.containers import Container

from labkit.constants import ROLE_REGISTRY
from labkit.errors import LabkitError, StepFailed
from labkit.lab.node import Node, run_publishing_port
from labkit.naming import LABEL_INPUTS, LABEL_LAB, LABEL_ROLE, cache_dir, managed_labels
from labkit.nodeimage import components, gomod
from labkit.nodeimage.images import ImageRecipe, build_image, current_inputs
from labkit.pipeline import Progress, heartbeat
from labkit.versions import (
    REGISTRY_CONTENT_REPOSITORY,
    REGISTRY_IMAGE,
    KubernetesVersion,
)

REGISTRY_PORT = 5000
REGISTRY_START_TIMEOUT = 30.0
PUBLISHED_PORT = f"{REGISTRY_PORT}/tcp"
CONFIG_PATH = "/etc/distribution/config.yml"
STORAGE_DIR = "/var/lib/registry"
CERTS_DIR = "/etc/containerd/certs.d"
# The hosts whose references a node resolves through the lab's registry.
MIRRORED_HOSTS = ("registry.k8s.io", "docker.io", "ghcr.io", "quay.io")
DOCKER_HUB = "docker.io"
# KEP-1755: where a cluster says which registry its users push to.
REGISTRY_HOSTING_CONFIGMAP = "local-registry-hosting"
# As the load balancer: back with the engine unless `lab stop` (or `docker stop`) stopped it.
RESTART_POLICY = {"Name": "unless-stopped"}
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


def registry_name(lab: str) -> str:
    return f"{lab}-{ROLE_REGISTRY}"


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
    container = run_publishing_port(
        client,
        REGISTRY_IMAGE,
        {
            "name": f"labkit-registry-fill-{os.urandom(4).hex()}",
            "detach": True,
            "labels": managed_labels(),
        },
        container_port=PUBLISHED_PORT,
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


def registry_tags(port: int, reference: str) -> tuple[str, ...] | None:
    """The tags the registry at 127.0.0.1:`port` holds of `reference`'s repository, where a
    node's pull of it looks (empty: none; None: it could not be asked)."""
    try:
        repository = stored_names(reference, port)[0].repository
    except LabkitError:
        return None
    url = f"http://127.0.0.1:{port}/v2/{repository}/tags/list"
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return tuple(sorted(json.load(reply).get("tags") or ()))
    except urllib.error.HTTPError as error:
        return () if error.code == HTTPStatus.NOT_FOUND else None
    except (OSError, ValueError, http.client.HTTPException):
        return None


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


def create_registry(
    client: docker.DockerClient,
    *,
    lab: str,
    network: str,
    address: str,
    image: str,
    avoid_ports: Collection[int] = (),
) -> Node:
    """Run the lab's registry at its fixed `address`, from `image` (a release's content,
    or the empty registry), publishing its port on 127.0.0.1."""
    name = registry_name(lab)
    settings = {
        "name": name,
        "hostname": name,
        "detach": True,
        "labels": managed_labels(**{LABEL_LAB: lab, LABEL_ROLE: ROLE_REGISTRY}),
        "network": network,
        "restart_policy": dict(RESTART_POLICY),
        "networking_config": {network: client.api.create_endpoint_config(ipv4_address=address)},
    }
    container = run_publishing_port(
        client, image, settings, container_port=PUBLISHED_PORT, avoid_ports=avoid_ports
    )
    return Node(name=name, role=ROLE_REGISTRY, container=container)


def find_registry(client: docker.DockerClient, lab: str) -> Node | None:
    containers: list[Container] = client.containers.list(
        all=True, filters={"label": [f"{LABEL_LAB}={lab}", f"{LABEL_ROLE}={ROLE_REGISTRY}"]}
    )
    if not containers:
        return None
    return Node(name=containers[0].name, role=ROLE_REGISTRY, container=containers[0])


def mirror_hosts_toml(address: str, upstream: str | None) -> str:
    """containerd's hosts.toml for one host name: the lab's registry as its only server,
    pull and resolve only, under the upstream's namespace (None: the registry's root, for
    `localhost:<port>`)."""
    lines = ["# Written by labkit: this lab's registry is the only server of this host name."]
    if upstream is None:
        lines.append(f'server = "http://{address}:{REGISTRY_PORT}"')
    else:
        # override_path: the path is the API root, so every repository of this host sits
        # under its name (/v2/registry.k8s.io/pause/manifests/3.10.1).
        lines += [
            f'server = "http://{address}:{REGISTRY_PORT}/v2/{upstream}"',
            "override_path = true",
        ]
    lines.append('capabilities = ["pull", "resolve"]')
    return "\n".join(lines) + "\n"


def mirror_files(address: str, host_port: int) -> dict[str, str]:
    """Every node's certs.d entries, path -> content."""
    files = {
        f"{CERTS_DIR}/{host}/hosts.toml": mirror_hosts_toml(address, host)
        for host in MIRRORED_HOSTS
    }
    files[f"{CERTS_DIR}/localhost:{host_port}/hosts.toml"] = mirror_hosts_toml(address, None)
    return files


def local_registry_hosting(address: str, host_port: int) -> Mapping[str, str]:
    """KEP-1755's `localRegistryHosting.v1`, as kind's docs publish it in kube-public."""
    return {
        "localRegistryHosting.v1": (
            f'host: "localhost:{host_port}"\n'
            f'hostFromContainerRuntime: "{address}:{REGISTRY_PORT}"\n'
            f'hostFromClusterNetwork: "{address}:{REGISTRY_PORT}"\n'
            'help: "https://github.com/kubernetes/enhancements/tree/master/keps/'
            'sig-cluster-lifecycle/generic/1755-communicating-a-local-registry"\n'
        )
    }
