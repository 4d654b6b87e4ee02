"""The CLI's host-level commands reached through the fixtures alone: `labkit doctor`,
`lab list`, `lab prune --pytest-run`, `image build` and `image gomod`, on the host the
scenarios run on."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from labkit.facade import Lab
from labkit.naming import LABEL_LAB
from labkit.nodeimage.gomod import COMMITTED_MODULES
from labkit.pytest_ownership import lab_name, run_id_of
from labkit.versions import DEFAULT_VERSION

pytestmark = pytest.mark.lab(workers=0)


def test_this_host_passes_every_doctor_check(labkit_host, lab: Lab) -> None:
    checks = labkit_host.doctor()
    assert {"engine", "privileged containers"} <= {check.name for check in checks}
    failed = {check.name: f"{check.detail} ({check.fix})" for check in checks if not check.ok}
    assert failed == {}


def test_the_default_image_build_finds_its_image_up_to_date(labkit_host, lab: Lab) -> None:
    image = labkit_host.client.images.get(DEFAULT_VERSION.node_image)
    built = labkit_host.build_image(DEFAULT_VERSION)
    assert built.reference == DEFAULT_VERSION.node_image
    # Built from the same inputs, the image is the one the lab runs, not a new one.
    assert labkit_host.client.images.get(built.reference).id == image.id
    assert {step.name for step in built.timings} >= {"assemble node image"}


def labelled(labkit_host, name: str) -> dict[str, list[object]]:
    selector = {"label": f"{LABEL_LAB}={name}"}
    client = labkit_host.client
    return {
        "containers": client.containers.list(all=True, filters=selector),
        "networks": client.networks.list(filters=selector),
        "volumes": client.volumes.list(filters=selector),
    }


def test_a_pytest_runs_prune_removes_its_labs_and_only_those(
    labkit_host, lab: Lab, lab_factory
) -> None:
    # A lab named as the fixtures of another pytest run (run id from its --testrunuid) name
    # theirs: what `.ci/run` prunes after a killed run.
    other_run = uuid.uuid4().hex
    name = lab_name("scenarios/test_host_commands.py::other-run", f"{run_id_of(other_run)}-gw")
    other = lab_factory(name, workers=0)
    listed = labkit_host.labs()
    assert {lab.name, other.name} <= set(listed)
    assert any(labelled(labkit_host, name).values())

    assert labkit_host.prune_pytest_run(other_run) == [name]

    assert name not in labkit_host.labs()
    assert labelled(labkit_host, name) == {"containers": [], "networks": [], "volumes": []}
    assert not other.state_dir.exists()
    assert lab.name in labkit_host.labs()
    assert lab.node("control-plane").container.status == "running"


def without_comments(go_mod: Path) -> list[str]:
    return [line for line in go_mod.read_text().splitlines() if not line.startswith("//")]


def test_the_committed_go_modules_are_what_image_gomod_writes(labkit_host, tmp_path) -> None:
    written = labkit_host.write_go_modules(tmp_path, log=lambda line: None)
    assert {module.name for module in written} >= {"kubernetes", "etcd", "coredns", "cri-tools"}
    for module in written:
        committed = COMMITTED_MODULES / module.name
        # The generated header comment is not part of the module.
        assert without_comments(module / "go.mod") == without_comments(committed / "go.mod")
        for name in ("go.sum", "tools.go"):
            assert (module / name).read_text() == (committed / name).read_text(), module / name
