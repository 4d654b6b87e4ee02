"""Each lab's image registry: distribution (built here from the Go module proxy:
labkit.nodeimage.registry_image) in a container of the lab, labelled and removed with it,
as kind's docs run `registry:3` beside a cluster.

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

import http.client
import json
import urllib.error
import urllib.request
from collections.abc import Collection, Mapping
from http import HTTPStatus

import docker
import docker.errors

from labkit.constants import ROLE_REGISTRY
from labkit.errors import LabkitError
from labkit.lab.node import Node, run_publishing_port
from labkit.naming import LABEL_LAB, LABEL_ROLE, managed_labels
from labkit.nodeimage.registry_image import (
    PUBLISHED_PORT,
    REGISTRY_PORT,
    stored_names,
)

CERTS_DIR = "/etc/containerd/certs.d"
# The hosts whose references a node resolves through the lab's registry.
MIRRORED_HOSTS = ("registry.k8s.io", "docker.io", "ghcr.io", "quay.io")
# KEP-1755: where a cluster says which registry its users push to.
REGISTRY_HOSTING_CONFIGMAP = "local-registry-hosting"
# As the load balancer: back with the engine unless `lab stop` (or `docker stop`) stopped it.
RESTART_POLICY = {"Name": "unless-stopped"}


def registry_name(lab: str) -> str:
    return f"{lab}-{ROLE_REGISTRY}"


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
