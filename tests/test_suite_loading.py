"""Loading the test images as one archive: each node gets what it lacks, from one `docker
save` of every reference, and a node that has them all is left alone."""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from labkit.suites import loading
from labkit.suites.loading import ARCHIVE_NAME, load_images


@dataclass
class Result:
    stdout: str = ""


@dataclass
class FakeContainer:
    archives: list[bytes] = field(default_factory=list)

    def put_archive(self, path: str, data: Any) -> bool:
        self.archives.append(data.read())
        return True


@dataclass
class FakeNode:
    name: str
    held: dict[str, str]
    container: FakeContainer = field(default_factory=FakeContainer)
    commands: list[list[str]] = field(default_factory=list)

    def exec(self, command: list[str], **_: Any) -> Result:
        self.commands.append(command)
        if command[:2] == ["crictl", "images"]:
            images = [{"id": i, "repoTags": [r]} for r, i in self.held.items()]
            return Result(json.dumps({"images": images}))
        return Result()


@dataclass
class FakeImage:
    id: str


class FakeImages:
    def get(self, reference: str) -> FakeImage:
        return FakeImage(IDS[reference])


@dataclass
class FakeClient:
    images: FakeImages = field(default_factory=FakeImages)


IDS = {"r/agnhost:1": "sha256:a", "r/busybox:1": "sha256:b"}


@pytest.fixture
def saved(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[list[str]]:
    calls: list[list[str]] = []

    def save_all(client: Any, references: list[str]) -> list[bytes]:
        calls.append(list(references))
        return [b"docker save of " + " ".join(references).encode()]

    monkeypatch.setattr(loading, "save_all", save_all)
    monkeypatch.setattr(loading, "cache_dir", lambda: tmp_path)
    return calls


def test_each_node_gets_what_it_lacks_from_one_save(saved: list[list[str]]) -> None:
    empty = FakeNode("worker", {})
    half = FakeNode("worker2", {"r/agnhost:1": "sha256:a"})
    full = FakeNode("control-plane", dict(zip(IDS, IDS.values(), strict=True)))
    loaded = load_images(FakeClient(), list(IDS), [empty, half, full], say=lambda line: None)  # type: ignore[arg-type]
    assert loaded == {"worker": list(IDS), "worker2": ["r/busybox:1"]}
    assert saved == [list(IDS)]
    assert full.container.archives == []
    for node in (empty, half):
        (archive,) = node.container.archives
        with tarfile.open(fileobj=io.BytesIO(archive)) as outer:
            member = outer.extractfile(ARCHIVE_NAME)
            assert member is not None and member.read() == b"docker save of r/agnhost:1 r/busybox:1"
        assert any(c[:4] == ["ctr", "--namespace", "k8s.io", "images"] for c in node.commands)


def test_a_reference_held_as_another_image_is_loaded_again(saved: list[list[str]]) -> None:
    stale = FakeNode("worker", {"r/agnhost:1": "sha256:old", "r/busybox:1": "sha256:b"})
    loaded = load_images(FakeClient(), list(IDS), [stale], say=lambda line: None)  # type: ignore[arg-type]
    assert loaded == {"worker": ["r/agnhost:1"]}
    assert saved == [["r/agnhost:1"]]


def test_nodes_that_have_every_image_are_left_alone(saved: list[list[str]]) -> None:
    full = FakeNode("worker", dict(zip(IDS, IDS.values(), strict=True)))
    assert load_images(FakeClient(), list(IDS), [full], say=lambda line: None) == {}  # type: ignore[arg-type]
    assert saved == [] and full.container.archives == []


def test_building_the_suites_builds_what_each_run_would_build_first(monkeypatch) -> None:
    from labkit.suites import run
    from labkit.versions import DEFAULT_VERSION

    built: list[str] = []

    class Binaries:
        def __init__(self, version, progress) -> None:
            assert version == DEFAULT_VERSION

        def path(self, program):
            built.append(program.name)
            return program.name

        def kubectl(self):
            built.append("kubectl")
            return "kubectl"

    monkeypatch.setattr(run, "SuiteBinaries", Binaries)
    monkeypatch.setattr(
        run,
        "build_test_images",
        lambda client, binaries, e2e, progress: built.append(f"images of {e2e}"),
    )
    assert run.build_suites("client", DEFAULT_VERSION, ["kubeadm"]) == [
        "ginkgo",
        "e2e_kubeadm.test",
    ]
    built.clear()
    run.build_suites("client", DEFAULT_VERSION, ["conformance"])
    assert built == ["ginkgo", "e2e.test", "kubectl", "images of e2e.test"]
