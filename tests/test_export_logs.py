"""export_logs with fake nodes: one node's failure or hang does not stop the others, a
stopped container is never exec'd into, and the files are where the summary says."""

from __future__ import annotations

import argparse
import io
import tarfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from labkit.cli.lab_logs import register_export_logs
from labkit.lab.export_logs import LAB_FILES, NODE_FILES, ExportTimeouts, export_logs
from labkit.lab.node import ExecResult

FAST = ExportTimeouts(command=1, journal=1, docker=1, node=3)
RUNNING_FILES = {"docker-logs.txt", "inspect.json", "var-log.tar", *(f.name for f in NODE_FILES)}


def var_log_tar() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        data = b"pod log line\n"
        info = tarfile.TarInfo("log/pods/kube-system_etcd/etcd/0.log")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@dataclass
class FakeContainer:
    status: str = "running"
    hang: float = 0.0  # seconds every Docker call blocks, as a wedged engine would

    def reload(self) -> None:
        time.sleep(self.hang)

    @property
    def attrs(self) -> dict[str, Any]:
        return {"State": {"Status": self.status}, "Name": "/fake"}

    def logs(self, **_: Any) -> list[bytes]:
        return [b"systemd booted\n", b"Reached target Multi-User System\n"]

    def get_archive(self, path: str) -> tuple[list[bytes], dict]:
        assert path == "/var/log"
        return [var_log_tar()], {}


@dataclass
class FakeNode:
    name: str
    role: str = "worker"
    container: FakeContainer = field(default_factory=FakeContainer)
    behaviour: str = "ok"  # ok | timeout | raise | hang
    commands: list[tuple[str, ...]] = field(default_factory=list)

    @property
    def is_control_plane(self) -> bool:
        return self.role == "control-plane"

    def exec(self, command: list[str], *, timeout: float, check: bool) -> ExecResult:
        assert timeout and not check, "every exec has a timeout and never raises on exit"
        self.commands.append(tuple(command))
        if self.behaviour == "raise":
            raise ConnectionError("engine went away")
        if self.behaviour == "hang":
            threading.Event().wait(60)
        if self.behaviour == "timeout" and command[0] == "journalctl":
            # What Node.exec returns when it killed a command at its timeout.
            return ExecResult(
                tuple(command),
                124,
                "partial journal\n",
                f"\n(killed: no exit within {timeout:.0f}s)",
            )
        return ExecResult(tuple(command), 0, f"output of {' '.join(command)}\n", "")


@dataclass
class FakeLab:
    nodes: list[FakeNode]
    name: str = "lab"
    load_balancer: FakeNode | None = None

    @property
    def containers(self) -> list[FakeNode]:
        return [*self.nodes, *([self.load_balancer] if self.load_balancer else [])]


def files(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir()}


def test_a_healthy_lab_gives_every_file(tmp_path: Path) -> None:
    lab = FakeLab([FakeNode("lab-control-plane", "control-plane"), FakeNode("lab-worker")])
    out = export_logs(lab, tmp_path / "out", timeouts=FAST)
    assert out.path == tmp_path / "out"
    assert files(out) == {
        "summary.txt",
        "lab-control-plane",
        "lab-worker",
        *(f.name for f in LAB_FILES),
    }
    for node in lab.nodes:
        assert files(out / node.name) == RUNNING_FILES
    version = (out / "lab-worker" / "kubernetes-version.txt").read_text()
    assert "$ kubeadm version -o short\n" in version and "$ cat /kind/version\n" in version
    with tarfile.open(out / "lab-worker" / "var-log.tar") as archive:
        assert "log/pods/kube-system_etcd/etcd/0.log" in archive.getnames()
    assert "--kubeconfig" in (out / "pods.txt").read_text()
    assert "FAILED" not in (out / "summary.txt").read_text()
    assert not list(out.rglob("errors.txt"))


def test_the_load_balancer_gives_its_docker_logs_and_inspect_only(tmp_path: Path) -> None:
    balancer = FakeNode("lab-load-balancer", "load-balancer")
    lab = FakeLab([FakeNode("lab-control-plane", "control-plane")], load_balancer=balancer)
    out = export_logs(lab, tmp_path, timeouts=FAST)
    assert files(out / "lab-load-balancer") == {"docker-logs.txt", "inspect.json"}
    assert balancer.commands == []
    assert "load-balancer lab-load-balancer" in (out / "summary.txt").read_text()


def test_one_node_failing_does_not_stop_the_others(tmp_path: Path) -> None:
    lab = FakeLab(
        [
            FakeNode("lab-control-plane", "control-plane"),
            FakeNode("lab-worker", behaviour="raise"),
            FakeNode("lab-worker2", behaviour="timeout"),
        ]
    )
    out = export_logs(lab, tmp_path, timeouts=FAST)
    assert files(out / "lab-control-plane") == RUNNING_FILES
    # The raising node still has what Docker gave, and says what failed.
    assert {"docker-logs.txt", "inspect.json", "var-log.tar", "errors.txt"} <= files(
        out / "lab-worker"
    )
    assert "ConnectionError: engine went away" in (out / "lab-worker" / "errors.txt").read_text()
    # A command killed at its timeout keeps its partial output and is reported.
    errors = (out / "lab-worker2" / "errors.txt").read_text()
    assert "journal.txt: `journalctl --no-pager` exited 124" in errors
    assert (out / "lab-worker2" / "journal.txt").read_text().startswith("partial journal")
    assert (out / "lab-worker2" / "crictl-ps.txt").exists()
    summary = (out / "summary.txt").read_text()
    assert "FAILED journal.txt" in summary and "node lab-worker (container running)" in summary


def test_a_stopped_container_is_not_execd_into(tmp_path: Path) -> None:
    stopped = FakeNode("lab-worker", container=FakeContainer(status="exited"))
    lab = FakeLab([FakeNode("lab-control-plane", "control-plane"), stopped])
    out = export_logs(lab, tmp_path, timeouts=FAST)
    assert stopped.commands == []
    assert files(out / "lab-worker") == {"docker-logs.txt", "inspect.json"}
    assert "Reached target" in (out / "lab-worker" / "docker-logs.txt").read_text()
    assert (
        "not collected (container exited, no exec into it): journal.txt"
        in (out / "summary.txt").read_text()
    )


def test_a_stopped_control_plane_skips_the_lab_files(tmp_path: Path) -> None:
    cp = FakeNode("lab-control-plane", "control-plane", FakeContainer(status="exited"))
    out = export_logs(FakeLab([cp, FakeNode("lab-worker")]), tmp_path, timeouts=FAST)
    assert cp.commands == [] and not (out / "pods.txt").exists()
    assert files(out / "lab-worker") == RUNNING_FILES


def test_nothing_hangs(tmp_path: Path) -> None:
    lab = FakeLab(
        [
            FakeNode("lab-control-plane", "control-plane"),
            FakeNode("lab-worker", behaviour="hang"),
            FakeNode("lab-worker2", container=FakeContainer(hang=60)),
        ]
    )
    started = time.monotonic()
    out = export_logs(lab, tmp_path, timeouts=FAST)
    assert time.monotonic() - started < FAST.node + 2
    assert files(out / "lab-control-plane") == RUNNING_FILES
    assert "did not finish within 3s" in (out / "lab-worker" / "errors.txt").read_text()
    # A Docker call that never answers is bounded by the docker timeout, not the node's.
    assert (
        "TimeoutError: docker inspect lab-worker2: no answer within 1s"
        in (out / "lab-worker2" / "errors.txt").read_text()
    )
    assert "UNFINISHED" in (out / "summary.txt").read_text()


def test_default_directory_and_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    lab = FakeLab(
        [FakeNode("lab-control-plane", "control-plane", container=FakeContainer(status="exited"))]
    )
    # The CLI finds the lab and calls its export_logs, as a library user would.
    found = SimpleNamespace(export_logs=lambda directory: export_logs(lab, directory))
    monkeypatch.setattr("labkit.host.docker_client", lambda: "client")
    monkeypatch.setattr("labkit.facade.Lab.find", lambda client, name: found)
    parser = argparse.ArgumentParser()
    register_export_logs(parser.add_subparsers())
    args = parser.parse_args(["export-logs", "lab"])
    assert args.run(args) == 0
    printed = Path(capsys.readouterr().out.strip())
    assert printed.parent == tmp_path / "labkit-logs" and printed.name.startswith("lab-")
    assert (printed / "summary.txt").exists()
