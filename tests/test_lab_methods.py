"""`Lab`'s methods are the library calls behind the CLI: each reaches its module, and each
CLI command goes through the method. The modules are fakes; no Docker, no API server."""

from __future__ import annotations

import json
import pathlib
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

import labkit.checks.lab
import labkit.diagnose
import labkit.diagnose.fetch
import labkit.diagnose.report
import labkit.host
import labkit.lab.images
import labkit.lab.lifecycle
import labkit.lab.upgrade
import labkit.lab.workloads
from labkit.checks.lab import CheckRun
from labkit.cli import main
from labkit.constants import ROLE_CONTROL_PLANE, ROLE_WORKER
from labkit.diagnose import LabDiagnosis
from labkit.errors import LabkitError
from labkit.facade import Lab
from labkit.host import DoctorReport
from labkit.lab.exported_logs import ExportedLogs
from labkit.lab.lifecycle import RestartResult
from labkit.lab.node import ExecFailed, ExecResult, Node
from labkit.lab.upgrade import UpgradeResult
from labkit.versions import KubernetesVersion

NAME = "h15-unit"


def fake_lab() -> Lab:
    def node(suffix: str, role: str) -> Node:
        return Node(
            f"{NAME}-{suffix}",
            role,
            SimpleNamespace(status="running", name=suffix, reload=lambda: None),
        )

    return Lab(
        NAME, "client", [node("control-plane", ROLE_CONTROL_PLANE), node("worker", ROLE_WORKER)]
    )


@dataclass
class Calls:
    """What the faked library modules were called with, by name."""

    made: dict[str, tuple[Any, ...]] = field(default_factory=dict)

    def fake(self, name: str, returns: Any = None):
        def call(*args: Any, **kwargs: Any) -> Any:
            self.made[name] = (*args, kwargs)
            return returns if returns is not None else name

        return call


@pytest.fixture
def calls(monkeypatch) -> Calls:
    calls = Calls()
    monkeypatch.setattr(labkit.lab.upgrade, "upgrade_lab", calls.fake("upgrade"))
    monkeypatch.setattr(labkit.lab.lifecycle, "stop_lab", calls.fake("stop"))
    monkeypatch.setattr(labkit.lab.lifecycle, "start_lab", calls.fake("start"))
    monkeypatch.setattr(labkit.checks.lab, "check_lab", calls.fake("check"))
    monkeypatch.setattr(labkit.lab.images, "load_image", calls.fake("load", returns=["n"]))
    return calls


def test_upgrade_parses_the_target_and_reaches_upgrade_lab(calls) -> None:
    lab = fake_lab()
    assert lab.upgrade(to="v1.37.3") == "upgrade"
    assert calls.made["upgrade"] == (lab, KubernetesVersion.parse("v1.37.3"), {"progress": None})
    with pytest.raises(LabkitError, match=r"^to: 'latest' is not a Kubernetes release"):
        lab.upgrade(to="latest")


def test_stop_start_and_check_reach_their_modules(calls) -> None:
    lab = fake_lab()
    assert (lab.stop(), lab.start()) == ("stop", "start")
    assert calls.made["stop"] == (lab, {"progress": None})
    assert calls.made["start"] == (lab, {"progress": None})
    assert lab.check() == "check"
    assert calls.made["check"] == (lab, {"strict": False, "wait": 0.0})
    lab.check(strict=True, wait=30)
    assert calls.made["check"] == (lab, {"strict": True, "wait": 30})


def test_load_image_takes_node_names_or_every_node(calls) -> None:
    lab = fake_lab()
    assert lab.load_image("busybox:1.36") == ["n"]
    assert calls.made["load"][:3] == ("client", "busybox:1.36", lab.nodes)
    lab.load_image("busybox:1.36", ["worker"])
    assert calls.made["load"][2] == [lab.workers[0]]
    lab.load_image("busybox:1.36", [lab.control_plane])
    assert calls.made["load"][2] == [lab.control_plane]
    with pytest.raises(LabkitError, match="has no node 'worker9'"):
        lab.load_image("busybox:1.36", ["worker9"])


def test_diagnose_returns_the_diagnoses_with_the_snapshot_read(monkeypatch) -> None:
    snapshot = object()
    monkeypatch.setattr(labkit.diagnose, "fetch_snapshot", lambda lab: snapshot)
    monkeypatch.setattr(labkit.diagnose, "diagnose_snapshot", lambda s: ["a cause"])
    monkeypatch.setattr(
        labkit.diagnose.report, "format_text", lambda d, s: f"text {d} {s is snapshot}"
    )
    monkeypatch.setattr(labkit.diagnose.report, "as_data", lambda d, s: {"diagnoses": d})
    result = fake_lab().diagnose()
    assert result == LabDiagnosis(("a cause",), snapshot)
    assert str(result) == "text ('a cause',) True"
    assert result.as_dict() == {"diagnoses": ("a cause",)}


def fake_kubectl(monkeypatch, exit_code: int = 0, stdout: str = "") -> list[tuple[str, ...]]:
    run: list[tuple[str, ...]] = []

    def kubectl(lab: Lab, *args: str, timeout: float = 60) -> ExecResult:
        run.append(args)
        return ExecResult(("kubectl", *args), exit_code, stdout, "forbidden" if exit_code else "")

    monkeypatch.setattr(labkit.lab.workloads, "kubectl", kubectl)
    return run


def test_kubectl_returns_the_result_or_parsed_json(monkeypatch) -> None:
    lab = fake_lab()
    run = fake_kubectl(monkeypatch, stdout=json.dumps({"items": [{"kind": "Node"}]}))
    assert lab.kubectl("get", "nodes", json=True) == {"items": [{"kind": "Node"}]}
    assert run[-1] == ("get", "nodes", "-o", "json")
    result = lab.kubectl("get", "nodes")
    assert isinstance(result, ExecResult) and result.ok
    assert run[-1] == ("get", "nodes")


def test_kubectl_failure_raises_unless_unchecked(monkeypatch) -> None:
    lab = fake_lab()
    fake_kubectl(monkeypatch, exit_code=1)
    with pytest.raises(ExecFailed, match="forbidden"):
        lab.kubectl("get", "secrets")
    assert lab.kubectl("auth", "can-i", "get", "secrets", check=False).exit_code == 1
    with pytest.raises(ExecFailed):
        lab.kubectl("get", "secrets", json=True, check=False)


@dataclass
class RecordingLab(Lab):
    """A lab whose methods record that the CLI called them and return what it prints."""

    called: list[tuple[str, Any]] = field(default_factory=list)

    def upgrade(self, to: Any, **_: Any) -> Any:
        self.called.append(("upgrade", str(to)))
        return UpgradeResult(self, KubernetesVersion.parse("v1.37.2"), to, [])

    def stop(self, **_: Any) -> Any:
        self.called.append(("stop", None))
        return RestartResult(self, [], ["x"], "stop")

    def start(self, **_: Any) -> Any:
        self.called.append(("start", None))
        return RestartResult(self, [], ["x"], "start")

    def load_image(self, reference: str, nodes: Any = None, **_: Any) -> list[str]:
        self.called.append(("load_image", (reference, [n.name for n in nodes])))
        return []

    def export_logs(self, directory: Any = None) -> Any:
        self.called.append(("export_logs", directory))
        return ExportedLogs(pathlib.Path(directory))

    def down(self) -> None:
        self.called.append(("down", None))

    def exec(self, node: Any, command: Any, **streams: Any) -> int:
        self.called.append(("exec", (node.name, list(command), streams["tty"])))
        return 0

    def check(self, **kwargs: Any) -> Any:
        self.called.append(("check", kwargs))
        return CheckRun(self.name, (), (), 0, (), 0.0, 1.0)


@pytest.fixture
def cli_lab(monkeypatch) -> RecordingLab:
    base = fake_lab()
    lab = RecordingLab(base.name, base.client, base.nodes)
    monkeypatch.setattr(labkit.host, "docker_client", lambda: "client")
    monkeypatch.setattr(Lab, "find", classmethod(lambda cls, client, name: lab))
    return lab


@pytest.mark.parametrize(
    ("argv", "called"),
    [
        (["lab", "upgrade", NAME, "--to", "v1.37.3"], ("upgrade", "v1.37.3")),
        (["lab", "stop", NAME], ("stop", None)),
        (["lab", "start", NAME], ("start", None)),
        (
            ["lab", "load-image", NAME, "busybox:1.36", "--nodes", "worker"],
            ("load_image", ("busybox:1.36", [f"{NAME}-worker"])),
        ),
        (["check", NAME, "--strict"], ("check", {"strict": True, "wait": 0.0})),
        (["lab", "export-logs", NAME, "/tmp/h15-logs"], ("export_logs", "/tmp/h15-logs")),
        (
            ["lab", "exec", NAME, "worker", "--", "crictl", "ps"],
            ("exec", (f"{NAME}-worker", ["crictl", "ps"], False)),
        ),
    ],
)
def test_cli_commands_go_through_the_lab_methods(
    cli_lab: RecordingLab, argv: list[str], called: tuple[str, Any], capsys
) -> None:
    assert main(argv) == 0
    assert cli_lab.called == [called]


@dataclass
class RecordingHost:
    """A LabkitHost whose methods record that the CLI called them."""

    called: list[tuple[str, Any]] = field(default_factory=list)
    client: Any = "client"

    def doctor(self) -> DoctorReport:
        self.called.append(("doctor", None))
        return DoctorReport(())

    def labs(self) -> list[str]:
        self.called.append(("labs", None))
        return [NAME]

    def remove_lab(self, name: str) -> bool:
        self.called.append(("remove_lab", name))
        return True

    def prune(self) -> dict[str, int]:
        self.called.append(("prune", None))
        return {"containers": 0}

    def prune_pytest_run(self, testrunuid: str) -> list[str]:
        self.called.append(("prune_pytest_run", testrunuid))
        return []

    def write_go_modules(self) -> list[Any]:
        self.called.append(("write_go_modules", None))
        return []

    def build_image(self, version: Any, *, reference: Any = None, **_: Any) -> Any:
        self.called.append(("build_image", (str(version), reference)))
        return SimpleNamespace(reference="labkit/node:x", total_seconds=1.0)


@pytest.mark.parametrize(
    ("argv", "called"),
    [
        (["doctor"], [("doctor", None)]),
        (["lab", "list"], [("labs", None)]),
        (["lab", "prune"], [("prune", None)]),
        (["lab", "prune", "--pytest-run", "u1"], [("prune_pytest_run", "u1")]),
        (
            ["image", "build", "--kubernetes-version", "v1.36.3"],
            [("build_image", ("v1.36.3", None))],
        ),
        (["image", "gomod"], [("write_go_modules", None)]),
        (["lab", "down", NAME], [("remove_lab", NAME)]),
    ],
)
def test_host_commands_go_through_the_labkit_host(
    monkeypatch, cli_lab: RecordingLab, argv: list[str], called: list[Any], capsys
) -> None:
    labkit_host = RecordingHost()
    monkeypatch.setattr("labkit.labkit_host.LabkitHost", lambda: labkit_host)
    assert main(argv) == 0
    assert labkit_host.called == called


def test_remove_lab_removes_a_lab_found_or_half_made_and_says_when_there_is_none(
    monkeypatch,
) -> None:
    from labkit.labkit_host import LabkitHost

    removed: list[tuple[Any, str]] = []
    monkeypatch.setattr("labkit.lab.model.list_labs", lambda client: [NAME])
    monkeypatch.setattr("labkit.lab.model.delete_lab", lambda *args: removed.append(args))
    # A lab half made has only a network or a load balancer: listed, so removed.
    labkit_host = LabkitHost("client")
    assert labkit_host.remove_lab(NAME) is True
    assert labkit_host.remove_lab("h15-none") is False
    assert removed == [("client", NAME)]
