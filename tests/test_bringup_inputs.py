"""`labkit lab up` refuses bad input before it creates anything (no Docker needed)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import docker.errors
import pytest

from labkit.errors import LabkitError, StepFailed
from labkit.lab import bringup
from labkit.lab.state import LabState
from labkit.naming import LABEL_LAB
from labkit.nodeimage.registry_image import content_reference
from labkit.pipeline import Progress
from labkit.spec import LabSpec
from labkit.versions import REGISTRY_CONTENT_REPOSITORY, REGISTRY_IMAGE


class FakeDocker:
    """Just enough of docker.DockerClient to answer lookups and record creations."""

    def __init__(
        self,
        images: set[str],
        containers: list[Any] = (),
        networks: list[Any] = (),
        registry_content: bool = True,
    ):
        self.created: list[str] = []
        # Each release's registry content, made by its image build, unless told otherwise.
        self.registry_content = registry_content
        self.images = SimpleNamespace(get=self._get_image)
        self._images = images
        self.containers = SimpleNamespace(
            list=lambda **_: list(containers), run=self._record("container")
        )
        # The name claim: a container created and removed around the network's creation.
        self.claims: list[str] = []
        self.api = SimpleNamespace(
            containers=lambda **_: [
                {"Names": [f"/{c.name}"], "Labels": c.labels} for c in containers
            ],
            create_container=self._claim,
            remove_container=lambda id_, **_: self.claims.remove(id_),
        )
        self.networks = SimpleNamespace(
            list=lambda filters=None, **_: [
                n for n in networks if not filters or LABEL_LAB in n.attrs["Labels"]
            ],
            create=self._record("network"),
        )
        self.volumes = SimpleNamespace(create=self._record("volume"), list=lambda **_: [])

    def _claim(self, image: str, *, name: str, **_: Any) -> dict[str, str]:
        self.claims.append(name)
        return {"Id": name}

    def _get_image(self, reference: str) -> Any:
        content = self.registry_content and reference.startswith(REGISTRY_CONTENT_REPOSITORY)
        if reference not in self._images and not content:
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


def test_missing_registry_content_is_filled_by_the_release_build(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    the_spec = spec()
    client = FakeDocker(images={the_spec.node_image}, registry_content=False)
    built = []

    def build(version: Any, progress: Progress) -> None:
        built.append(str(version))
        client._images.add(content_reference(version))

    monkeypatch.setattr("labkit.nodeimage.build.build_node_image", build)
    with pytest.raises(StepFailed, match="a network was created"):
        bringup.bring_up(the_spec, client=client, progress=quiet())
    assert built == [str(the_spec.kubernetes_version)]


def test_a_lab_on_its_own_node_image_gets_an_empty_registry_without_a_build(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = FakeDocker(images={"me/node:dev"}, registry_content=False)
    monkeypatch.setattr(
        "labkit.nodeimage.build.build_node_image",
        lambda *_, **__: pytest.fail("no release build for a node image of the user's"),
    )
    monkeypatch.setattr(
        "labkit.nodeimage.registry_image.build_registry_image",
        lambda client, progress: REGISTRY_IMAGE,
    )
    up = bringup.BringUp(spec=spec(image="me/node:dev"), client=client, progress=quiet())
    bringup.build_missing_images(up)
    assert up.registry_image == REGISTRY_IMAGE


def test_registry_none_needs_no_registry_image() -> None:
    client = FakeDocker(images={"me/node:dev"}, registry_content=False)
    up = bringup.BringUp(
        spec=spec(image="me/node:dev", registry="none"), client=client, progress=quiet()
    )
    bringup.build_missing_images(up)
    assert up.registry_image == ""


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
    with pytest.raises(
        LabkitError, match=r"^test: name: Docker has a container named 't1-worker2', not of a lab"
    ):
        bringup.bring_up(the_spec, client=client, progress=quiet())
    assert client.created == []


def test_a_foreign_network_of_the_name_is_not_called_a_lab() -> None:
    the_spec = spec()
    client = FakeDocker(
        images={the_spec.node_image}, networks=[SimpleNamespace(name="t1", attrs={"Labels": {}})]
    )
    with pytest.raises(LabkitError, match=r"^test: name: Docker has a network named 't1', not of"):
        bringup.bring_up(the_spec, client=client, progress=quiet())
    assert client.created == []


def conflict(what: str) -> docker.errors.APIError:
    return docker.errors.APIError(what, SimpleNamespace(status_code=409, reason="Conflict"))


def test_a_run_that_loses_the_name_removes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two `lab up` of one name at once: both pass the first look; the container claim
    refuses the second, which then must not remove the first one's lab."""
    the_spec = spec()
    client = FakeDocker(images={the_spec.node_image})
    removed = []
    monkeypatch.setattr(bringup, "delete_lab", lambda client, name: removed.append(name))

    def taken(*args: Any, **kwargs: Any) -> None:
        raise conflict("Conflict. The container name /t1 is already in use")

    client.api.create_container = taken
    with pytest.raises(LabkitError, match="another `labkit lab up` is making a lab named 't1'"):
        bringup.bring_up(the_spec, client=client, progress=quiet())
    assert (client.created, removed) == ([], [])


def test_a_network_of_the_name_made_meanwhile_releases_the_claim_and_removes_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    the_spec = spec()
    client = FakeDocker(images={the_spec.node_image})
    removed = []
    monkeypatch.setattr(bringup, "delete_lab", lambda client, name: removed.append(name))
    monkeypatch.setattr(bringup, "create_network", lambda *a: (_ for _ in ()).throw(conflict("")))
    with pytest.raises(LabkitError, match="name: a lab named 't1' already exists"):
        bringup.bring_up(the_spec, client=client, progress=quiet())
    assert (client.claims, removed) == ([], [])


def test_a_failure_after_the_claim_removes_this_runs_lab(monkeypatch: pytest.MonkeyPatch) -> None:
    the_spec = spec()
    client = FakeDocker(images={the_spec.node_image})
    removed = []
    monkeypatch.setattr(bringup, "delete_lab", lambda client, name: removed.append(name))
    monkeypatch.setattr(bringup, "create_network", lambda *a: "t1")
    monkeypatch.setattr(bringup, "lab_subnet", lambda *a: (_ for _ in ()).throw(OSError("x")))
    with pytest.raises(StepFailed, match="create nodes"):
        bringup.bring_up(the_spec, client=client, progress=quiet())
    assert (client.claims, removed) == ([], ["t1"])


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


def test_the_kubeconfig_and_its_folder_are_private_even_when_they_exist(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABKIT_STATE_DIR", str(tmp_path))
    state = tmp_path / "labs" / "t1"
    state.mkdir(parents=True, mode=0o755)
    state.chmod(0o755)
    (state / "kubeconfig").write_text("old")
    (state / "kubeconfig").chmod(0o644)
    LabState("t1").write_kubeconfig({"clusters": []})
    assert (state.stat().st_mode & 0o777, (state / "kubeconfig").stat().st_mode & 0o777) == (
        0o700,
        0o600,
    )


NOT_SERVED = (
    '{"Path": "k8s.io/kubernetes", "Version": "v1.37.99", "Error": "k8s.io/kubernetes@v1.37.99: '
    "reading https://proxy.golang.org/k8s.io/kubernetes/@v/v1.37.99.info: 403 Forbidden\\n\\t"
    'server response: This module version is not available."}'
)


def test_a_release_the_module_proxy_does_not_serve_is_the_users_to_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As `lab upgrade --to v1.37.99` refuses it (exit 2), `lab up` does, at the build's
    first question to the proxy and before the lab's network (go said it only in its JSON:
    the reason was empty, exit 1)."""
    from labkit.nodeimage import build

    answer = SimpleNamespace(returncode=1, stdout=NOT_SERVED, stderr="")
    monkeypatch.setattr(build.subprocess, "run", lambda *a, **k: answer)
    monkeypatch.setattr(
        build, "build_node_image", lambda version, progress: build.kubernetes_go_mod(version)
    )
    client = FakeDocker(images=set())
    with pytest.raises(
        LabkitError,
        match=r"^kubernetesVersion: v1\.37\.99 is not a release the Go module proxy serves "
        r"\(server response: This module version is not available\.\)",
    ):
        bringup.bring_up(spec(kubernetesVersion="v1.37.99"), client=client, progress=quiet())
    assert (client.created, client.claims) == ([], [])


def test_a_proxy_that_fails_otherwise_is_an_environment_failure_with_its_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from labkit.nodeimage import build
    from labkit.versions import DEFAULT_VERSION

    error = '{"Error": "dial tcp: lookup proxy.golang.org: no such host"}'
    answer = SimpleNamespace(returncode=1, stdout=error, stderr="")
    monkeypatch.setattr(build.subprocess, "run", lambda *a, **k: answer)
    with pytest.raises(StepFailed, match=r"exited 1: dial tcp: lookup proxy\.golang\.org"):
        build.kubernetes_go_mod(DEFAULT_VERSION)
