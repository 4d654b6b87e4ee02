"""`labkit lab up` refuses bad input before it creates anything (no Docker needed)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import docker.errors
import pytest

from labkit.errors import LabkitError, StepFailed
from labkit.lab import bringup
from labkit.naming import LABEL_LAB
from labkit.pipeline import Progress
from labkit.spec import LabSpec


class FakeDocker:
    """Just enough of docker.DockerClient to answer lookups and record creations."""

    def __init__(self, images: set[str], containers: list[Any] = (), networks: list[Any] = ()):
        self.created: list[str] = []
        self.images = SimpleNamespace(get=self._get_image)
        self._images = images
        self.containers = SimpleNamespace(
            list=lambda **_: list(containers), run=self._record("container")
        )
        self.api = SimpleNamespace(
            containers=lambda **_: [
                {"Names": [f"/{c.name}"], "Labels": c.labels} for c in containers
            ]
        )
        self.networks = SimpleNamespace(
            list=lambda **_: list(networks), create=self._record("network")
        )
        self.volumes = SimpleNamespace(create=self._record("volume"), list=lambda **_: [])

    def _get_image(self, reference: str) -> Any:
        if reference not in self._images:
            raise docker.errors.ImageNotFound(reference)
        return SimpleNamespace(id="sha256:1")

    def _record(self, kind: str):
        def create(*args: Any, **kwargs: Any) -> None:
            self.created.append(kind)
            raise AssertionError(f"a {kind} was created for bad input")

        return create


@pytest.fixture(autouse=True)
def no_runtime_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bringup.host, "node_runtime", lambda client: None)


def spec(**fields: Any) -> LabSpec:
    return LabSpec.from_dict({"name": "t1", "workers": 2, **fields}, source="test")


def quiet() -> Progress:
    return Progress(quiet=True)


def test_a_missing_explicit_image_is_a_clear_error_and_creates_nothing() -> None:
    client = FakeDocker(images=set())
    with pytest.raises(
        LabkitError,
        match=r"image: node image me/node:dev is missing.*labkit image build",
    ):
        bringup.bring_up(spec(image="me/node:dev"), client=client, progress=quiet())
    assert client.created == []


def test_a_missing_image_of_the_release_is_built_before_anything_is_created(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = FakeDocker(images=set())
    built = []

    def build(version: Any, progress: Progress) -> None:
        built.append(str(version))
        client._images.add(version.node_image)

    monkeypatch.setattr("labkit.nodeimage.build.build_node_image", build)
    the_spec = spec(kubernetesVersion="v1.36.3")
    with pytest.raises(StepFailed, match="a network was created"):
        bringup.bring_up(the_spec, client=client, progress=quiet())
    assert built == ["v1.36.3"]


def test_name_in_use_is_a_clear_error_and_creates_nothing() -> None:
    existing = SimpleNamespace(name="t1-control-plane", labels={LABEL_LAB: "t1"})
    the_spec = spec()
    client = FakeDocker(images={the_spec.node_image}, containers=[existing])
    with pytest.raises(
        LabkitError, match=r"name: a lab named 't1' already exists.*labkit lab down"
    ):
        bringup.bring_up(the_spec, client=client, progress=quiet())
    assert client.created == []


def test_a_foreign_container_with_a_node_name_also_blocks_the_name() -> None:
    foreign = SimpleNamespace(name="t1-worker2", labels={})
    the_spec = spec()
    client = FakeDocker(images={the_spec.node_image}, containers=[foreign])
    with pytest.raises(LabkitError, match="already exists"):
        bringup.bring_up(the_spec, client=client, progress=quiet())
    assert client.created == []


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"workers": -1}, "workers"),
        ({"controlPlanes": 0}, "controlPlanes"),
        ({"kubernetesVersion": "v1.99.0"}, "kubernetesVersion"),
        ({"podSubnett": "10.0.0.0/16"}, "podSubnett"),
    ],
)
def test_bad_spec_fails_before_docker_is_touched(fields: dict, message: str) -> None:
    with pytest.raises(LabkitError, match=message):
        spec(**fields)
