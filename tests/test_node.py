"""Node.output: a command's standard output, despite Docker losing a short exec's output."""

from __future__ import annotations

import pytest

from labkit.lab.node import EMPTY_OUTPUT_TRIES, ExecFailed, ExecResult, Node


class ScriptedNode(Node):
    """A node whose exec answers from a list, one result a call."""

    def __init__(self, results: list[ExecResult]) -> None:
        super().__init__(name="n1", role="worker", container=None)  # type: ignore[arg-type]
        self.results = results
        self.calls = 0

    def exec(self, command, *, timeout=120.0, check=True, on_line=None) -> ExecResult:
        result = self.results[min(self.calls, len(self.results) - 1)]
        self.calls += 1
        if check and not result.ok:
            raise ExecFailed(self.name, result)
        return result


def result(stdout: str, exit_code: int = 0) -> ExecResult:
    return ExecResult(("kubeadm", "config", "images", "list"), exit_code, stdout, "")


def test_a_lost_output_is_read_again() -> None:
    node = ScriptedNode([result(""), result("registry.k8s.io/pause:3.10.1\n")])
    assert node.output(["kubeadm"]) == "registry.k8s.io/pause:3.10.1\n"
    assert node.calls == 2


def test_output_on_the_first_try_runs_once() -> None:
    node = ScriptedNode([result("v1.34.4\n")])
    assert node.output(["kubeadm"]) == "v1.34.4\n"
    assert node.calls == 1


def test_a_command_that_keeps_printing_nothing_is_tried_a_bounded_number_of_times() -> None:
    node = ScriptedNode([result("  \n")])
    assert node.output(["kubeadm"]).strip() == ""
    assert node.calls == EMPTY_OUTPUT_TRIES


def test_a_failing_command_is_not_retried() -> None:
    node = ScriptedNode([result("", exit_code=1), result("late")])
    with pytest.raises(ExecFailed):
        node.output(["kubeadm"])
    assert node.calls == 1
