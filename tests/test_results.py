"""Every result a `Lab` verb or `LabkitHost` returns says what the CLI says for it: the CLI
is driven with the very object (the verb faked to return it), and its output is compared
with `str(result)`, its `--json` with `result.as_json()`, its exit code with `result.ok`.
Each repr is one short line, and `assert result.ok, result` shows the text, not the repr
(labkit's pytest plugin, in a pytester run). No Docker, no API server."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from _pytest.assertion import rewrite
from diagnose_objects import CP, CP_TAINT, node, snapshot

import labkit.host
import labkit.version_report
from labkit.checks.findings import Finding
from labkit.checks.lab import CheckRun, NodeTiming
from labkit.checks.report import NOT_CHECKED
from labkit.cli import main
from labkit.constants import ROLE_CONTROL_PLANE, ROLE_WORKER
from labkit.diagnose import LabDiagnosis, diagnose_snapshot
from labkit.facade import Lab
from labkit.host import DoctorCheck, DoctorReport
from labkit.lab.bringup import BringUpResult
from labkit.lab.exported_logs import ExportedLogs
from labkit.lab.lifecycle import RestartResult
from labkit.lab.node import ExecResult, Node
from labkit.lab.problems import Problem
from labkit.lab.push import PushedImage, PushResult
from labkit.lab.status import ApiStatus, LabStatus, NodeStatus
from labkit.lab.upgrade import UpgradeResult
from labkit.pipeline import StepTiming
from labkit.pytest_assertion import (
    restore_message_format,
    results_as_text,
    show_results_as_text,
)
from labkit.results import Result
from labkit.suites.report import SpecResult, SuiteResult
from labkit.versions import KubernetesVersion

pytest_plugins = ["pytester"]

NAME = "r29-unit"
TIMINGS = [StepTiming("create nodes", 2.25), StepTiming("kubeadm init", 30.5)]


def lab() -> Lab:
    def one(suffix: str, role: str) -> Node:
        container = SimpleNamespace(status="running", name=f"{NAME}-{suffix}")
        return Node(f"{NAME}-{suffix}", role, container)  # type: ignore[arg-type]

    return Lab(
        NAME, "client", [one("control-plane", ROLE_CONTROL_PLANE), one("worker", ROLE_WORKER)]
    )


@pytest.fixture
def the_lab(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Lab:
    monkeypatch.setenv("LABKIT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr(labkit.host, "docker_client", lambda *args, **kwargs: "client")
    found = lab()
    monkeypatch.setattr(Lab, "find", classmethod(lambda cls, client, name: found))
    return found


def run_cli(capsys: pytest.CaptureFixture[str], result: Result, argv: list[str]) -> tuple[str, str]:
    """The command's stdout and stderr, asserting it exits as `result.ok` says."""
    assert main(argv) == (0 if result.ok else 1)
    captured = capsys.readouterr()
    return captured.out, captured.err


def assert_cli_says(
    capsys: pytest.CaptureFixture[str],
    result: Result,
    argv: list[str],
    *,
    json_option: bool = True,
) -> None:
    out, _ = run_cli(capsys, result, argv)
    assert out == f"{result}\n"
    if json_option:
        out, _ = run_cli(capsys, result, [*argv, "--json"])
        assert out == result.json_text() + "\n"
        assert json.loads(out) == result.as_json()
    json.dumps(result.as_dict())  # plain JSON data, whatever the command prints
    assert "\n" not in repr(result) and len(repr(result)) < 120, repr(result)


def failing_check(lab: Lab) -> CheckRun:
    findings = (
        Finding("kubeconfig.server", f"{NAME}-worker", "/etc/kubernetes/kubelet.conf", "a", "b"),
        Finding("cis.profiling", f"{NAME}-control-plane", "-", "false", "true", status="known"),
        Finding("cluster.coredns", "cluster", "-", "the API", "not checked", status=NOT_CHECKED),
    )
    return CheckRun(
        lab.name,
        findings,
        tuple(n.name for n in lab.nodes),
        48,
        (NodeTiming(lab.nodes[0].name, 0.4, 0.1),),
        0.0,
        3.25,
        api_problem="the API server at https://127.0.0.1:1 does not answer: refused",
    )


@pytest.mark.parametrize("failing", [False, True])
def test_check_run(
    the_lab: Lab, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], failing: bool
) -> None:
    run = failing_check(the_lab) if failing else CheckRun(NAME, (), (), 48, (), 0.0, 1.0)
    monkeypatch.setattr(Lab, "check", lambda self, **kwargs: run)
    assert run.ok is not failing
    assert_cli_says(capsys, run, ["check", NAME])
    _, err = run_cli(capsys, run, ["check", NAME, "--json"])
    assert err == run.summary() + "\n"  # the summary goes to stderr, the JSON alone to stdout
    out, _ = run_cli(capsys, run, ["check", NAME, "--rules"])
    assert out == run.rules_text() + "\n"
    assert run.as_dict()["findings"] == run.as_json()
    assert repr(run) == (
        f"<CheckRun {NAME!r}: 48 rules, 2 nodes, 2 failures, not ok>"
        if failing
        else f"<CheckRun {NAME!r}: 48 rules, 0 nodes, 0 failures, ok>"
    )


def test_a_failed_check_reads_as_the_cli_in_an_assertion(the_lab: Lab) -> None:
    run = failing_check(the_lab)
    with pytest.raises(AssertionError) as raised:
        assert run.ok, str(run)
    assert str(raised.value).startswith("STATUS  RULE")
    assert "48 rules, 2 nodes, 1 failures, 1 known, 1 not checked in 3.2s" in str(raised.value)


@pytest.mark.parametrize("broken", [False, True])
def test_lab_diagnosis(
    the_lab: Lab, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], broken: bool
) -> None:
    snap = snapshot([node(CP, taints=[CP_TAINT])]) if broken else snapshot()
    result = LabDiagnosis(tuple(diagnose_snapshot(snap)), snap)
    monkeypatch.setattr(Lab, "diagnose", lambda self: result)
    assert result.ok is not broken
    assert_cli_says(capsys, result, ["diagnose", NAME])
    assert str(result).startswith("lab " if broken else "no problems found")
    assert result.as_dict() == result.as_json()
    assert "V1Node" not in repr(result)


def lab_status(lab: Lab, problems: tuple[Problem, ...]) -> LabStatus:
    return LabStatus(
        name=NAME,
        kubeconfig=lab.kubeconfig,
        nodes=(
            NodeStatus(f"{NAME}-control-plane", ROLE_CONTROL_PLANE, "running", "10.1.0.2", "Ready"),
            NodeStatus(f"{NAME}-worker", ROLE_WORKER, "exited", None, "API unreachable"),
        ),
        api=ApiStatus("https://127.0.0.1:40123", not problems, "refused" if problems else None),
        problems=problems,
        timings={"create nodes": 2.25},
        upgrade={"from": "v1.36.3", "to": "v1.37.2", "pending": [f"{NAME}-worker"]},
    )


API_DOWN = Problem("api", "it does not answer", "start it")


@pytest.mark.parametrize("problems", [(), (API_DOWN,)])
def test_lab_status(
    the_lab: Lab,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    problems: tuple[Problem, ...],
) -> None:
    status = lab_status(the_lab, problems)
    monkeypatch.setattr(Lab, "status", lambda self: status)
    assert status.ok is not problems
    assert_cli_says(capsys, status, ["lab", "status", NAME])
    assert status.as_dict()["nodes"][1] == {
        "name": f"{NAME}-worker",
        "role": ROLE_WORKER,
        "container": "exited",
        "ip": None,
        "kubernetes": "API unreachable",
    }
    assert "  upgrade v1.36.3 -> v1.37.2: pending: r29-unit-worker" in str(status).splitlines()


def test_bring_up_result(
    the_lab: Lab, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    result = BringUpResult(the_lab, TIMINGS)
    monkeypatch.setattr(Lab, "up", classmethod(lambda cls, spec, **kwargs: result))
    assert result.ok
    assert_cli_says(capsys, result, ["lab", "up", "--name", NAME])
    assert str(result).startswith(f"lab {NAME!r} is up in 32.8s; kubeconfig: ")
    assert result.as_dict()["timings"] == {"create nodes": 2.25, "kubeadm init": 30.5}


def test_upgrade_result(
    the_lab: Lab, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    result = UpgradeResult(
        the_lab, KubernetesVersion.parse("v1.36.3"), KubernetesVersion.parse("v1.37.2"), TIMINGS
    )
    monkeypatch.setattr(Lab, "upgrade", lambda self, to, **kwargs: result)
    assert_cli_says(capsys, result, ["lab", "upgrade", NAME, "--to", "v1.37.2"])
    assert str(result) == f"lab {NAME!r} upgraded from v1.36.3 to v1.37.2 in 32.8s"
    assert (result.as_dict()["from"], result.as_dict()["to"]) == ("v1.36.3", "v1.37.2")


@pytest.mark.parametrize(
    ("action", "acted_on", "text"),
    [
        ("stop", [], f"lab {NAME!r} was stopped already"),
        (
            "stop",
            ["w"],
            f"lab {NAME!r} stopped in 32.8s; `labkit lab start {NAME}` starts it again",
        ),
        ("start", [], f"lab {NAME!r} was running; Ready in 32.8s; kubeconfig: "),
        ("start", ["w"], f"lab {NAME!r} started and Ready in 32.8s; kubeconfig: "),
    ],
)
def test_restart_result(
    the_lab: Lab,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    action: Any,
    acted_on: list[str],
    text: str,
) -> None:
    result = RestartResult(the_lab, TIMINGS, acted_on, action)
    monkeypatch.setattr(Lab, action, lambda self, **kwargs: result)
    assert_cli_says(capsys, result, ["lab", action, NAME])
    assert str(result).startswith(text)
    assert result.as_dict()["acted_on"] == acted_on


def suite_result(tmp_path: Path, *, failed: bool) -> SuiteResult:
    specs = (
        SpecResult("[sig-node] a pod runs", "passed", 12.5),
        SpecResult(
            "[sig-apps] a deployment rolls", "failed" if failed else "passed", 30.0, "boom\nat x"
        ),
        SpecResult("[sig-storage] a volume", "skipped", 0.0, "no storage class"),
    )
    return SuiteResult("conformance", specs, 460, 3, 42.5, not failed, report_dir=tmp_path)


@pytest.mark.parametrize("failed", [False, True])
def test_suite_result(
    the_lab: Lab,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    failed: bool,
) -> None:
    result = suite_result(tmp_path, failed=failed)
    monkeypatch.setattr(Lab, "conformance", lambda self, suite, **kwargs: result)
    assert result.ok is not failed
    assert_cli_says(capsys, result, ["conformance", NAME, "--suite", "conformance"])
    assert (
        "FAILED (failed) [sig-apps] a deployment rolls\n  boom\n  at x" in str(result)
    ) is failed
    spec = result.as_dict()["specs"][1]
    assert spec["state"] == ("failed" if failed else "passed") and "output" not in spec


@pytest.mark.parametrize("errors", [(), ("r29-unit-worker/errors.txt",)])
def test_exported_logs(
    the_lab: Lab,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    errors: tuple[str, ...],
) -> None:
    logs = ExportedLogs(tmp_path / "logs", errors)
    monkeypatch.setattr(Lab, "export_logs", lambda self, directory=None: logs)
    assert logs.ok and logs.complete is not errors
    assert_cli_says(capsys, logs, ["lab", "export-logs", NAME, str(tmp_path / "logs")])
    _, err = run_cli(capsys, logs, ["lab", "export-logs", NAME])
    assert err == (f"{logs.warning}\n" if errors else "")
    # A path-like, as the Path it used to be.
    assert Path(logs) == logs.directory == tmp_path / "logs"
    assert logs / "summary.txt" == tmp_path / "logs" / "summary.txt"
    assert logs.name == "logs"


def test_exported_logs_reads_what_could_not_be_collected(tmp_path: Path) -> None:
    (tmp_path / "node").mkdir()
    (tmp_path / "node" / "errors.txt").write_text("journal: refused\n")
    logs = ExportedLogs.read(tmp_path)
    assert logs.errors == ("node/errors.txt",) and not logs.complete
    assert ExportedLogs.read(tmp_path / "node").errors == ("errors.txt",)


@pytest.mark.parametrize("failing", [False, True])
def test_doctor_report(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], failing: bool
) -> None:
    checks = [DoctorCheck("engine", True, "Docker 27.1 (API 1.46)")]
    if failing:
        checks.append(DoctorCheck("node images", False, "none", "run `make image`"))
    monkeypatch.setattr(labkit.host, "doctor_checks", lambda: checks)
    from labkit.labkit_host import LabkitHost

    report = LabkitHost().doctor()
    assert report == DoctorReport(tuple(checks)) and report.ok is not failing
    assert_cli_says(capsys, report, ["doctor"])
    assert list(report) == checks  # iterable, as the list it used to be
    assert report.as_dict() == {"ok": not failing, "checks": report.as_json()}


def test_exec_result_repr_says_the_command_and_sizes_not_the_output() -> None:
    result = ExecResult(("kubectl", "get", "pods", "-A"), 0, "x" * 100_000, "")
    assert repr(result) == (
        "<ExecResult `kubectl get pods -A` exited 0, stdout 100000 chars, stderr 0 chars>"
    )


class AssertionMessage:
    """A plugin for a pytester run (in this process) whose `message` fixture is `value`."""

    def __init__(self, value: object) -> None:
        self.value = value

    @pytest.fixture
    def message(self) -> object:
        return self.value


ASSERTS_ON_ITS_MESSAGE = """
def test_the_message(message):
    assert message.ok, message
"""
# How pytest's report starts the first line of an assertion's message, and the next ones.
FIRST, NEXT = "E       AssertionError: ", "E         "


def assertion_message(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, message: object
) -> list[str]:
    """The lines pytest shows as the message of `assert message.ok, message`, run with the
    plugins pytest loads (labkit's by its entry point) and with the format put back after."""
    # pytest's header lists the node images (tests/test_version.py): answered without Docker.
    monkeypatch.setattr(labkit.version_report, "_node_images", lambda: (None, "not asked"))
    pytester.makepyfile(ASSERTS_ON_ITS_MESSAGE)
    before = rewrite._format_assertmsg
    run = pytester.runpytest(plugins=[AssertionMessage(message)])
    assert rewrite._format_assertmsg is before
    run.assert_outcomes(failed=1)
    output = run.outlines
    start = next(i for i, line in enumerate(output) if line.startswith(FIRST))
    lines = [output[start].removeprefix(FIRST)]
    for line in output[start + 1 :]:
        # An empty line of the message is `E` and the indent; pytest's `assert` line ends it.
        if not line.startswith(NEXT.rstrip()) or line.startswith("E       assert "):
            break
        lines.append(line.removeprefix(NEXT))
    return lines


def failing_results(tmp_path: Path) -> dict[str, Result]:
    broken = snapshot([node(CP, taints=[CP_TAINT])])
    fix = "run `make host` (labkit/host/setup.sh)"
    return {
        "check": failing_check(lab()),
        "diagnose": LabDiagnosis(tuple(diagnose_snapshot(broken)), broken),
        "status": lab_status(lab(), (API_DOWN,)),
        "conformance": suite_result(tmp_path, failed=True),
        "doctor": DoctorReport(
            (
                DoctorCheck("engine", True, "Docker 27.1 (API 1.46)"),
                DoctorCheck("privileged containers", True, "a privileged container runs"),
                DoctorCheck("inotify", False, "max_user_instances 128 (needs 512)", fix),
                DoctorCheck("node images", False, "none", "run `make image`"),
            )
        ),
    }


@pytest.mark.parametrize("kind", ["check", "diagnose", "status", "conformance", "doctor"])
def test_assert_result_ok_with_the_result_shows_the_cli_text(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, kind: str
) -> None:
    result = failing_results(tmp_path)[kind]
    # Longer than the 240 characters pytest cuts a message's repr to.
    assert len(str(result)) > 240
    assert assertion_message(pytester, monkeypatch, result) == str(result).splitlines()


class NotLabkit:
    ok = False

    def __str__(self) -> str:
        return "what a NotLabkit prints"

    def __repr__(self) -> str:
        return f"<NotLabkit {'x' * 300}>"


def test_any_other_message_is_still_its_repr_cut_short(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    (message,) = assertion_message(pytester, monkeypatch, NotLabkit())
    assert message.startswith("<NotLabkit xxx") and "..." in message
    assert len(message) < len(repr(NotLabkit()))


def test_a_pytest_without_the_message_format_keeps_its_own(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = pytester.parseconfig()
    monkeypatch.delattr(rewrite, "_format_assertmsg")
    show_results_as_text(config)
    restore_message_format(config)
    assert not hasattr(rewrite, "_format_assertmsg")


class TextlessCheckRun(CheckRun):
    def __str__(self) -> str:
        raise RuntimeError("no text")


def test_a_result_whose_text_fails_goes_to_pytests_format_as_it_is() -> None:
    format_message = results_as_text(lambda message: f"found {type(message).__name__}")
    assert format_message(failing_check(lab())) == "found str"
    assert (
        format_message(TextlessCheckRun(NAME, (), (), 48, (), 0.0, 1.0)) == "found TextlessCheckRun"
    )


def test_push_result(
    the_lab: Lab, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    image = PushedImage("app:1", "sha256:" + "ab" * 32, ("app:1", "localhost:25001/app:1"))
    result = PushResult(the_lab.name, "localhost:25001", (image,))
    monkeypatch.setattr(Lab, "push", lambda self, *refs, **kwargs: result)
    assert_cli_says(capsys, result, ["lab", "push", NAME, "app:1"])
    assert result.ok and "pods pull it as app:1 or localhost:25001/app:1" in str(result)
