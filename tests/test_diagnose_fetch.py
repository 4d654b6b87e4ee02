"""Filling a snapshot from a (fake) lab, the text and JSON reports, and `labkit diagnose`."""

from __future__ import annotations

import argparse
import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from diagnose_objects import CP, CP_TAINT, LAB, WORKER, node, snapshot
from kubernetes import client as k8s

from labkit.cli import diagnose as diagnose_cli
from labkit.diagnose import diagnose_snapshot, fetch
from labkit.diagnose.fetch import fetch_snapshot
from labkit.diagnose.report import format_text
from labkit.errors import LabkitError
from labkit.facade import Lab
from labkit.lab.node import ExecResult
from labkit.lab.runtime import parse_crictl_ps
from labkit.lab.state import LabState

CRICTL_PS = json.dumps(
    {
        "containers": [
            {
                "id": "a" * 64,
                "metadata": {"name": "kube-apiserver", "attempt": 3},
                "state": "CONTAINER_EXITED",
            },
            {"id": "b" * 64, "metadata": {"name": "etcd"}, "state": "CONTAINER_RUNNING"},
        ]
    }
)


@dataclass
class FakeContainer:
    status: str = "running"

    def reload(self) -> None:
        pass

    def logs(self, tail: int) -> bytes:
        return b"systemd: Freezing execution.\n"


@dataclass
class FakeNode:
    name: str
    role: str = "worker"
    container: FakeContainer = field(default_factory=FakeContainer)
    commands: list[tuple[str, ...]] = field(default_factory=list)

    @property
    def is_control_plane(self) -> bool:
        return self.role == "control-plane"

    def exec(self, command: list[str], *, timeout: float, check: bool) -> ExecResult:
        self.commands.append(tuple(command))
        return ExecResult(tuple(command), 0, CRICTL_PS, "")

    def journal(self, unit: str, lines: int) -> str:
        assert self.container.status == "running", "read the journal of a stopped node"
        self.commands.append(("journalctl", unit))
        return f"{unit} on {self.name}: something"


@dataclass(frozen=True)
class StateIn(LabState):
    """A lab's state kept in a test's own directory."""

    path: Path = Path()

    @property
    def directory(self) -> Path:
        return self.path


@dataclass
class FakeLab:
    nodes: list[FakeNode]
    state_dir: Path
    name: str = LAB
    api_error: Exception | None = None
    load_balancer: FakeNode | None = None
    registry: FakeNode | None = None

    @property
    def control_planes(self) -> list[FakeNode]:
        return [n for n in self.nodes if n.role == "control-plane"]

    @property
    def state(self) -> LabState:
        return StateIn(self.name, self.state_dir)

    def api_client(self) -> Any:
        if self.api_error:
            raise self.api_error
        return type("Api", (), {"close": lambda self: None})()


def lab(tmp_path: Path, worker_status: str = "running", **fields: Any) -> FakeLab:
    nodes = [
        FakeNode(CP, "control-plane"),
        FakeNode(WORKER, container=FakeContainer(worker_status)),
    ]
    return FakeLab(nodes, tmp_path, **fields)


def test_parse_crictl_ps() -> None:
    rows = parse_crictl_ps(CRICTL_PS)
    assert [(r.name, r.running, r.attempt) for r in rows] == [
        ("kube-apiserver", False, 3),
        ("etcd", True, 0),
    ]


def test_without_the_api_it_reads_the_control_plane_only(tmp_path: Path) -> None:
    fake = lab(tmp_path, api_error=LabkitError("lab 'lab' has no kubeconfig"))
    snap = fetch_snapshot(fake)
    assert snap.api_error == "lab 'lab' has no kubeconfig"
    assert set(snap.journals) == {CP} and snap.control_plane_runtime is not None
    assert fake.nodes[1].commands == []
    assert ("crictl", "ps", "-a", "-o", "json") in fake.nodes[0].commands
    found = diagnose_snapshot(snap)
    assert [d.cause_id for d in found] == ["api.unreachable"]
    assert "kube-apiserver is not running" in found[0].summary


class FakeCore:
    def __init__(self, api: Any) -> None:
        pass

    def list_node(self, **_: Any) -> k8s.V1NodeList:
        return k8s.V1NodeList(
            items=[node(CP, taints=[CP_TAINT]), node(WORKER, "False", "KubeletNotReady", "PLEG")]
        )

    def list_pod_for_all_namespaces(self, **_: Any) -> k8s.V1PodList:
        return k8s.V1PodList(items=[])

    def list_event_for_all_namespaces(self, **_: Any) -> k8s.CoreV1EventList:
        return k8s.CoreV1EventList(items=[])


def test_journals_only_of_unwell_running_nodes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fetch.k8s, "CoreV1Api", FakeCore)
    snap = fetch_snapshot(lab(tmp_path))
    assert snap.api_error is None and set(snap.journals) == {WORKER}
    assert snap.journal(WORKER, "containerd") == f"containerd on {WORKER}: something"

    stopped = lab(tmp_path, worker_status="exited")
    snap = fetch_snapshot(stopped)
    assert snap.journals == {} and stopped.nodes[1].commands == []
    assert "Freezing execution" in snap.consoles[WORKER]


def test_an_api_error_is_described_not_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Refusing(FakeCore):
        def list_node(self, **_: Any) -> k8s.V1NodeList:
            raise k8s.ApiException(status=503, reason="Service Unavailable")

    monkeypatch.setattr(fetch.k8s, "CoreV1Api", Refusing)
    assert fetch_snapshot(lab(tmp_path)).api_error.startswith("HTTP 503 Service Unavailable")


def token_secret(token_id: str, expiration: str | None = None, **usages: str) -> k8s.V1Secret:
    data = {
        "token-id": token_id,
        "token-secret": "0123456789abcdef",
        "usage-bootstrap-authentication": "true",
        "usage-bootstrap-signing": "true",
        **{f"usage-bootstrap-{key}": value for key, value in usages.items()},
    }
    if expiration:
        data["expiration"] = expiration
    return k8s.V1Secret(
        type="bootstrap.kubernetes.io/token",
        data={key: base64.b64encode(value.encode()).decode() for key, value in data.items()},
    )


def test_join_tokens_are_those_a_join_can_use_now(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class WithTokens(FakeCore):
        def list_namespaced_secret(self, namespace: str, **kwargs: Any) -> k8s.V1SecretList:
            assert namespace == "kube-system"
            assert kwargs["field_selector"] == "type=bootstrap.kubernetes.io/token"
            return k8s.V1SecretList(
                items=[
                    token_secret("live01", "2999-01-01T00:00:00Z"),
                    token_secret("gone01", "2001-01-01T00:00:00Z"),
                    token_secret("nosign", signing="false"),
                    token_secret("never1"),
                ]
            )

    monkeypatch.setattr(fetch.k8s, "CoreV1Api", WithTokens)
    assert fetch_snapshot(lab(tmp_path)).join_tokens == ("live01", "never1")
    monkeypatch.setattr(fetch.k8s, "CoreV1Api", FakeCore)  # secrets unreadable: unknown
    snap = fetch_snapshot(lab(tmp_path))
    assert snap.api_error is None and snap.join_tokens is None


def test_no_problems_says_what_it_looked_at() -> None:
    text = format_text([], snapshot())
    assert text.startswith("no problems found\nlooked at:")
    assert "nodes: 2/2 Ready" in text and "journals of: no node" in text


def run_cli(monkeypatch: pytest.MonkeyPatch, snap: Any, *argv: str) -> int:
    monkeypatch.setattr("labkit.host.docker_client", lambda: None)
    monkeypatch.setattr(
        "labkit.facade.Lab.find", classmethod(lambda cls, client, name: Lab(name, client, []))
    )
    monkeypatch.setattr("labkit.diagnose.fetch_snapshot", lambda lab: snap)
    parser = argparse.ArgumentParser()
    diagnose_cli.register(parser.add_subparsers())
    args = parser.parse_args(["diagnose", LAB, *argv])
    return args.run(args)


def test_cli_exit_codes_and_json(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(monkeypatch, snapshot()) == 0
    assert "no problems found" in capsys.readouterr().out
    broken = snapshot([node(CP, taints=[CP_TAINT])])
    assert run_cli(monkeypatch, broken) == 1
    assert "[node.not-registered] node/lab-worker" in capsys.readouterr().out
    assert run_cli(monkeypatch, broken, "--json") == 1
    data = json.loads(capsys.readouterr().out)
    assert data["problems"][0]["cause_id"] == "node.not-registered"
    assert data["lab"] == LAB and data["looked_at"]
