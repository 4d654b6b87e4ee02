"""Removing what labkit labelled (`lab down`, `lab prune`), also after a `lab up` killed
halfway.

A `lab up` killed while it creates a node leaves dockerd finishing that create: for several
seconds (6 s measured here under load) Docker lists the container but answers 404 to its
inspect and its removal, and the node's volume is in use until it goes. So removal lists
with Docker's list calls only (never an inspect per container, which fails on such a
container), removes by id, and lists again until nothing carries the label, for at most
REMOVAL_TIMEOUT.

>>> remove_labelled(client, "io.labkit.lab=demo")  # doctest: +SKIP
{'containers': 2, 'volumes': 2, 'networks': 1}
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import docker
import docker.errors

from labkit.constants import REMOVAL_TIMEOUT
from labkit.errors import StepFailed

RETRY_DELAY = 1.0


def remove_labelled(
    client: docker.DockerClient, label: str, *, timeout: float = REMOVAL_TIMEOUT
) -> dict[str, int]:
    """Remove every container (with its anonymous volumes), volume and network carrying
    `label` (`key=value`), in that order; how many of each went. Raises StepFailed naming
    what is still there after `timeout`, with Docker's last refusals."""
    removed = {"containers": 0, "volumes": 0, "networks": 0}
    deadline = time.monotonic() + timeout
    while True:
        refusals = _remove_listed(client, label, removed)
        left = _names(_listed(client, label))
        if not any(left.values()):
            return removed
        if time.monotonic() >= deadline:
            raise StepFailed(
                operation=f"remove what carries {label}",
                reason=f"still there after {timeout:.0f}s: "
                + "; ".join(f"{kind} {', '.join(names)}" for kind, names in left.items() if names),
                evidence={"Docker's refusals": "\n".join(f"{k}: {v}" for k, v in refusals.items())},
            )
        time.sleep(RETRY_DELAY)


def _names(listed: dict[str, list[Any]]) -> dict[str, list[str]]:
    return {
        "containers": [c[:12] for c in listed["containers"]],
        "volumes": [v.name for v in listed["volumes"]],
        "networks": [n.name for n in listed["networks"]],
    }


def _listed(client: docker.DockerClient, label: str) -> dict[str, list[Any]]:
    """What carries `label`: container ids from the list call, and Docker's volume and
    network objects (their list calls inspect nothing either)."""
    filters = {"label": label}
    return {
        "containers": [c["Id"] for c in client.api.containers(all=True, filters=filters)],
        "volumes": client.volumes.list(filters=filters),
        "networks": client.networks.list(filters=filters),
    }


def _remove_listed(
    client: docker.DockerClient, label: str, removed: dict[str, int]
) -> dict[str, str]:
    """One pass: what is listed now, removed; Docker's refusals by object. A 404 is a
    container still being created or already gone, a 409 one being removed or a volume or
    network still in use: the next pass sees which."""
    refusals: dict[str, str] = {}

    def remove(kind: str, name: str, action: Any) -> bool:
        try:
            action()
        except docker.errors.APIError as error:
            refusals[f"{kind} {name}"] = str(error.explanation or error)
            return False
        return True

    def remove_container(container: str) -> bool:
        return remove(
            "container",
            container[:12],
            lambda: client.api.remove_container(container, v=True, force=True),
        )

    listed = _listed(client, label)
    with ThreadPoolExecutor(max_workers=max(1, len(listed["containers"]))) as pool:
        removed["containers"] += sum(pool.map(remove_container, listed["containers"]))
    for volume in listed["volumes"]:
        removed["volumes"] += remove("volume", volume.name, volume.remove)
    for network in listed["networks"]:
        removed["networks"] += remove("network", network.name, network.remove)
    return refusals
