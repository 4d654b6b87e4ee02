"""The Docker engine labkit talks to, and the runtime its node containers need."""

from __future__ import annotations

import os

import docker
from docker import DockerClient

from labkit.errors import LabkitError
from labkit.host.kernel import missing_capabilities
from labkit.naming import WRAPPED_RUNTIME

DEFAULT_ENGINE_ADDRESS = "unix:///var/run/docker.sock"


def engine_address() -> str:
    return os.environ.get("DOCKER_HOST") or DEFAULT_ENGINE_ADDRESS


def docker_client(timeout: int = 600) -> DockerClient:
    """A client of the engine in the environment (DOCKER_HOST or the default socket).

    The timeout is long by default because committing or importing a node image takes
    minutes on a slow disk.
    """
    try:
        return docker.from_env(timeout=timeout)
    except docker.errors.DockerException as error:
        raise LabkitError(
            f"no Docker engine answers at {engine_address()} ({error}); run `make host`"
        ) from error


def node_runtime(client: DockerClient) -> str | None:
    """The runtime for privileged containers: None (docker's default runc) when the host
    can grant every capability, else the wrapper that drops what it cannot."""
    missing = missing_capabilities()
    if not missing:
        return None
    if WRAPPED_RUNTIME in (client.info().get("Runtimes") or {}):
        return WRAPPED_RUNTIME
    raise LabkitError(
        f"this host cannot grant {', '.join(sorted(missing))} to containers, so privileged "
        f"node containers need the {WRAPPED_RUNTIME} runtime, which dockerd at "
        f"{engine_address()} does not list; run `make host`"
    )
