"""`lab down` and `lab prune` after a `lab up` killed while it created a node: Docker lists
the container but answers 404 until its create ends, and its volume is in use meanwhile."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import docker.errors
import pytest

from labkit.errors import StepFailed
from labkit.lab import removal
from labkit.lab.removal import remove_labelled


class HalfCreatedLab:
    """Docker over one lab whose worker is still being created for `creating_passes`
    removals: listed, but 404 to its removal, and its volume in use meanwhile."""

    def __init__(self, creating_passes: int) -> None:
        self.containers_left = {"cp-id", "worker-id"}
        self.volumes_left = {"cp-var", "worker-var"}
        self.networks_left = {"demo"}
        self.creating_passes = creating_passes
        self.api = SimpleNamespace(
            containers=self.list_containers, remove_container=self.remove_container
        )
        self.volumes = SimpleNamespace(list=self.list_volumes)
        self.networks = SimpleNamespace(list=self.list_networks)

    def list_containers(self, all: bool, filters: dict[str, str]) -> list[dict[str, Any]]:
        return [{"Id": c} for c in sorted(self.containers_left)]

    def list_volumes(self, filters: dict[str, str]) -> list[Any]:
        return [
            SimpleNamespace(name=v, remove=lambda v=v: self.remove_volume(v))
            for v in sorted(self.volumes_left)
        ]

    def list_networks(self, filters: dict[str, str]) -> list[Any]:
        return [
            SimpleNamespace(name=n, remove=lambda n=n: self.networks_left.discard(n))
            for n in sorted(self.networks_left)
        ]

    def remove_container(self, container: str, v: bool, force: bool) -> None:
        assert v and force
        if container == "worker-id" and self.creating_passes > 0:
            self.creating_passes -= 1
            raise docker.errors.NotFound(f"No such container: {container}")
        self.containers_left.discard(container)

    def remove_volume(self, name: str) -> None:
        if name == "worker-var" and "worker-id" in self.containers_left:
            raise docker.errors.APIError(f"remove {name}: volume is in use - [worker-id]")
        self.volumes_left.discard(name)


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(removal, "RETRY_DELAY", 0)


def docker_of(lab: HalfCreatedLab) -> docker.DockerClient:
    return lab  # type: ignore[return-value]


def test_a_container_still_being_created_is_removed_once_its_create_ends() -> None:
    api = HalfCreatedLab(creating_passes=3)
    removed = remove_labelled(docker_of(api), "io.labkit.lab=demo")
    assert removed == {"containers": 2, "volumes": 2, "networks": 1}
    assert not (api.containers_left or api.volumes_left or api.networks_left)


def test_what_is_still_there_at_the_deadline_is_named_with_dockers_refusal() -> None:
    api = HalfCreatedLab(creating_passes=10**6)
    with pytest.raises(StepFailed) as failed:
        remove_labelled(docker_of(api), "io.labkit.lab=demo", timeout=0.05)
    message = str(failed.value)
    assert "still there after 0s: containers worker-id; volumes worker-var" in message
    assert "No such container: worker-id" in message
    assert "volume is in use" in message
