"""`labkit lab push` refuses what it cannot do before it pushes anything (no Docker)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import docker.errors
import pytest

from labkit.errors import LabkitError
from labkit.lab import push as push_module
from labkit.lab.push import PushedImage, PushResult, push_images


def fake_lab(registry_status: str | None = "running", images: set[str] = frozenset()) -> Any:
    def get(reference: str) -> Any:
        if reference not in images:
            raise docker.errors.ImageNotFound(reference)
        return SimpleNamespace(id="sha256:" + "ab" * 32)

    registry = None
    if registry_status is not None:
        container = SimpleNamespace(status=registry_status, reload=lambda: None)
        registry = SimpleNamespace(name="demo-registry", container=container)
    return SimpleNamespace(
        name="demo", registry=registry, client=SimpleNamespace(images=SimpleNamespace(get=get))
    )


@pytest.fixture(autouse=True)
def no_pushes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    pushed: list[str] = []
    monkeypatch.setattr(push_module, "published_port", lambda container: 25001)
    monkeypatch.setattr(push_module, "wait_until_answering", lambda port, name: None)
    monkeypatch.setattr(
        push_module, "push", lambda client, ref, registry, name: pushed.append(f"{registry}/{name}")
    )
    return pushed


def test_a_lab_without_a_registry_says_load_image_instead(no_pushes) -> None:
    with pytest.raises(LabkitError, match=r"has no registry .*`labkit lab load-image demo IMAGE`"):
        push_images(fake_lab(None), ["app:1"])
    assert no_pushes == []


def test_a_stopped_registry_says_lab_start(no_pushes) -> None:
    with pytest.raises(LabkitError, match=r"\(demo-registry\) is exited; `labkit lab start demo`"):
        push_images(fake_lab("exited", {"app:1"}), ["app:1"])


def test_an_image_the_host_lacks_stops_before_any_push(no_pushes) -> None:
    with pytest.raises(LabkitError, match=r"image 'gone:1' is not in the host's Docker"):
        push_images(fake_lab(images={"app:1"}), ["app:1", "gone:1"])
    assert no_pushes == []


def test_each_image_goes_under_its_own_name_and_kinds(no_pushes) -> None:
    result = push_images(fake_lab(images={"app:1"}), ["app:1"], say=lambda _: None)
    assert no_pushes == ["127.0.0.1:25001/docker.io/library/app:1", "127.0.0.1:25001/app:1"]
    assert result.ok and result.images[0].pull_as == ("app:1", "localhost:25001/app:1")
    assert str(result).splitlines() == [
        "pushed 1 images into localhost:25001 (lab 'demo')",
        "  app:1: pods pull it as app:1 or localhost:25001/app:1",
    ]
    assert result.as_dict()["images"][0]["pull_as"] == ["app:1", "localhost:25001/app:1"]
    assert repr(result) == "<PushResult 'demo': 1 images, ok>"


def test_a_result_round_trips_its_fields() -> None:
    result = PushResult("demo", "localhost:1", (PushedImage("a:1", "sha256:1", ("a:1",)),))
    assert result.as_dict() == {
        "lab": "demo",
        "ok": True,
        "registry": "localhost:1",
        "images": [{"reference": "a:1", "id": "sha256:1", "pull_as": ["a:1"]}],
    }
