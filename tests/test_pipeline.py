"""The pipeline names the running step on a failure; work on several nodes reports them all."""

from __future__ import annotations

import io
import threading

import pytest

from labkit.errors import LabkitError, StepFailed
from labkit.parallel import parallel
from labkit.pipeline import Progress, Step, run_steps


def quiet() -> Progress:
    return Progress(stream=io.StringIO())


def kubeadm_join_fails(node: str) -> None:
    raise StepFailed(
        reason="kubeadm exited 1",
        node=node,
        operation="kubeadm join",
        evidence={f"{node}: journalctl -u kubelet (tail)": f"{node} kubelet says why"},
    )


def test_run_steps_stamps_the_running_step_on_an_inner_failure() -> None:
    steps = [
        Step("create nodes", lambda _: None),
        Step("join workers", lambda _: kubeadm_join_fails("lab-worker")),
    ]
    with pytest.raises(StepFailed) as failure:
        run_steps(steps, None, quiet())
    assert (failure.value.step, failure.value.node, failure.value.operation) == (
        "join workers",
        "lab-worker",
        "kubeadm join",
    )
    assert str(failure.value).startswith(
        "step 'join workers' failed on node lab-worker (kubeadm join): kubeadm exited 1"
    )
    assert "lab-worker kubelet says why" in str(failure.value)


def test_run_steps_wraps_an_unexpected_error_in_its_step() -> None:
    def broken(_: object) -> None:
        raise KeyError("apiVersion")

    with pytest.raises(StepFailed) as failure:
        run_steps([Step("kubeadm init", broken)], None, quiet())
    assert failure.value.step == "kubeadm init"
    assert failure.value.reason == "KeyError: 'apiVersion'"


def test_run_steps_lets_a_user_error_through_as_it_is() -> None:
    def refuse(_: object) -> None:
        raise LabkitError("name: taken")

    with pytest.raises(LabkitError, match="name: taken"):
        run_steps([Step("check inputs", refuse)], None, quiet())


def test_an_operation_outside_a_pipeline_names_itself() -> None:
    failure = StepFailed(reason="exited 2", node="n1", operation="read artifacts")
    assert str(failure) == "read artifacts failed on node n1: exited 2"


def test_parallel_returns_results_in_order() -> None:
    assert parallel([3, 1, 2], lambda n: n * 10) == [30, 10, 20]
    assert parallel([], lambda n: n) == []


def test_parallel_raises_a_single_failure_as_it_is() -> None:
    with pytest.raises(StepFailed) as failure:
        parallel(
            ["lab-worker", "lab-worker2"], lambda n: n == "lab-worker2" and kubeadm_join_fails(n)
        )
    assert failure.value.node == "lab-worker2"
    assert failure.value.failures == ()


def test_parallel_names_every_node_that_failed_with_all_the_evidence() -> None:
    started = threading.Barrier(2, timeout=5)

    def join(node: str) -> None:
        started.wait()  # both run at once: neither failure hides the other
        kubeadm_join_fails(node)

    steps = [Step("join workers", lambda _: parallel(["lab-worker", "lab-worker2"], join))]
    with pytest.raises(StepFailed) as failure:
        run_steps(steps, None, quiet())
    both = failure.value
    assert both.step == "join workers"
    assert [f.node for f in both.failures] == ["lab-worker", "lab-worker2"]
    assert both.node == "lab-worker, lab-worker2"
    assert both.reason == (
        "2 nodes failed: lab-worker: kubeadm join: kubeadm exited 1; "
        "lab-worker2: kubeadm join: kubeadm exited 1"
    )
    assert "lab-worker kubelet says why" in str(both)
    assert "lab-worker2 kubelet says why" in str(both)


def test_parallel_wraps_unexpected_errors_of_several_nodes() -> None:
    def fail(node: str) -> None:
        raise ConnectionError(f"{node} is gone")

    with pytest.raises(StepFailed) as failure:
        parallel(["a", "b"], fail)
    assert "ConnectionError: a is gone" in failure.value.reason
    assert "ConnectionError: b is gone" in failure.value.reason


def test_progress_writes_to_the_stderr_of_its_creation_not_of_the_import(capsys) -> None:
    Progress().say("hello from a step")
    assert "hello from a step" in capsys.readouterr().err
