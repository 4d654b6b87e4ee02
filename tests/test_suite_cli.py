"""`labkit conformance` is `Lab.conformance` plus printing: its options reach the method,
and the exit status says whether anything failed. `Lab.conformance` reaches run_suite with
the request checked. No Docker, no API server."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import labkit.host
import labkit.suites.run
from labkit.cli import main
from labkit.constants import ROLE_CONTROL_PLANE, ROLE_WORKER
from labkit.errors import LabkitError
from labkit.facade import Lab
from labkit.lab.node import Node
from labkit.suites.report import read_report

RECORDED = Path(__file__).parent / "suite_reports" / "e2e_kubeadm_v1.37.2.json"
NAME = "s11-unit"


def recorded_result(tmp_path: Path, *, failed: bool) -> Any:
    data = json.loads(RECORDED.read_text())
    if failed:
        data[0]["SpecReports"][0].update(State="failed", Failure={"Message": "boom"})
    path = tmp_path / "report.json"
    path.write_text(json.dumps(data))
    return read_report(path, suite="kubeadm")


class ConformanceLab(Lab):
    def __init__(self, result: Any) -> None:
        node = Node(f"{NAME}-control-plane", ROLE_CONTROL_PLANE, SimpleNamespace(status="running"))
        super().__init__(NAME, "client", [node])  # type: ignore[arg-type]
        self.result = result
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def conformance(self, suite: str = "kubeadm", **kwargs: Any) -> Any:
        self.calls.append((suite, kwargs))
        return self.result


@pytest.mark.parametrize(("failed", "code"), [(False, 0), (True, 1)])
def test_the_cli_passes_its_options_and_exits_by_the_result(
    monkeypatch, tmp_path: Path, capsys, failed: bool, code: int
) -> None:
    lab = ConformanceLab(recorded_result(tmp_path, failed=failed))
    monkeypatch.setattr(labkit.host, "docker_client", lambda: "client")
    monkeypatch.setattr(Lab, "find", classmethod(lambda cls, client, name: lab))
    argv = ["conformance", NAME, "--suite", "conformance", "--focus", "a", "--focus", "b"]
    argv += ["--skip", "c", "--parallel", "2", "--report", str(tmp_path / "r")]
    assert main(argv) == code
    assert lab.calls == [
        (
            "conformance",
            {"focus": ["a", "b"], "skip": ["c"], "parallel": 2, "report_dir": tmp_path / "r"},
        )
    ]
    out = capsys.readouterr().out
    assert ("FAILED (failed)" in out) is failed
    assert "slowest:" in out


def test_lab_conformance_checks_the_request_before_running(monkeypatch) -> None:
    ran: list[Any] = []
    monkeypatch.setattr(labkit.suites.run, "run_suite", lambda *a: ran.append(a))
    node = Node(f"{NAME}-cp", ROLE_CONTROL_PLANE, SimpleNamespace(status="running"))
    worker = Node(f"{NAME}-w", ROLE_WORKER, SimpleNamespace(status="running"))
    lab = Lab(NAME, "client", [node, worker])  # type: ignore[arg-type]
    with pytest.raises(LabkitError, match="suite: 'e2e' is not a suite"):
        lab.conformance("e2e")
    assert ran == []
    lab.conformance("kubeadm", focus=r"\[sig-x\]", skip=["y"], parallel=2)
    ((_, request, _),) = ran
    assert (request.focus, request.skip, request.parallel) == ((r"\[sig-x\]",), ("y",), 2)


@pytest.fixture
def suite_runs_on_the_lab(monkeypatch) -> None:
    """The shared runs call the suite runner; here it records the request on the lab."""

    def run_suite(lab: ConformanceLab, request: Any) -> Any:
        options = {"focus": request.focus, "skip": request.skip, "parallel": request.parallel}
        return lab.conformance(request.suite, **options, report_dir=request.report_dir)

    monkeypatch.setattr("labkit.suites.shared.run_suite", run_suite)


@pytest.mark.usefixtures("suite_runs_on_the_lab")
def test_shared_runs_run_a_suite_once_per_options(tmp_path: Path) -> None:
    from labkit.suites.shared import SharedSuiteRuns

    lab = ConformanceLab(recorded_result(tmp_path, failed=False))
    runs = SharedSuiteRuns(lab, report_root=tmp_path)
    first = runs("kubeadm", focus="x")
    assert runs("kubeadm", focus=["x"]) is first
    runs("kubeadm", focus="y")
    assert [(s, k["focus"], k["report_dir"].name) for s, k in lab.calls] == [
        ("kubeadm", ("x",), f"{NAME}-kubeadm-0"),
        ("kubeadm", ("y",), f"{NAME}-kubeadm-1"),
    ]


@pytest.mark.usefixtures("suite_runs_on_the_lab")
def test_one_spec_of_a_shared_run_in_pytest_terms(tmp_path: Path) -> None:
    from labkit.suites.shared import SharedSuiteRuns, check_spec

    result = recorded_result(tmp_path, failed=True)
    runs = SharedSuiteRuns(ConformanceLab(result))
    failed, passed = result.failed[0], result.passed[0]
    assert runs.spec(failed.name) == failed
    with pytest.raises(pytest.fail.Exception, match="failed: boom"):
        check_spec(runs.spec(failed.name))
    check_spec(runs.spec(passed.name))
    with pytest.raises(pytest.skip.Exception, match="not dual-stack"):
        check_spec(result.skipped[0])
    with pytest.raises(pytest.skip.Exception, match="left out"):
        check_spec(result.not_selected[0])
    with pytest.raises(LookupError, match="no spec 'nothing'"):
        runs.spec("nothing")
    assert len(runs.lab.calls) == 1  # type: ignore[attr-defined]


def test_an_interrupted_run_prints_what_ran_and_exits_130(
    monkeypatch, tmp_path: Path, capsys
) -> None:
    from labkit.suites.ginkgo import SuiteInterrupted

    partial = recorded_result(tmp_path, failed=True)

    class InterruptedLab(ConformanceLab):
        def conformance(self, suite: str = "kubeadm", **kwargs: Any) -> Any:
            raise SuiteInterrupted(partial)

    lab = InterruptedLab(None)
    monkeypatch.setattr(labkit.host, "docker_client", lambda: "client")
    monkeypatch.setattr(Lab, "find", classmethod(lambda cls, client, name: lab))
    assert main(["conformance", NAME]) == 130
    out = capsys.readouterr().out
    assert out.startswith("interrupted; what ran before:\nkubeadm suite: 34 passed, 1 failed")
