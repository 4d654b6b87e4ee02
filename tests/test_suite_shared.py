"""`applicable_spec_problems`: what keeps a suite run from "every spec that applies to the
lab's shape passed", as the scenarios assert it."""

from __future__ import annotations

from labkit.suites.report import SpecResult, SuiteResult
from labkit.suites.shared import applicable_spec_problems
from labkit.suites.suites import COPY_CERTS, KUBEADM_SELF_SKIPS, MULTI_NODE

PASSED = SpecResult("[area-kubeadm] [multi-node] kubelet-config ConfigMap", "passed", 0.1)
LEFT_OUT = SpecResult("[area-kubeadm] [copy-certs] kubeadm-certs Secret", "skipped", 0.0)
DUAL_STACK = SpecResult("[area-kubeadm] dual-stack", "skipped", 0.0, KUBEADM_SELF_SKIPS[0])


def run(*specs: SpecResult, succeeded: bool = True) -> SuiteResult:
    return SuiteResult("kubeadm", specs, len(specs), len(specs), 1.0, succeeded)


def test_a_run_where_every_applicable_spec_passed_has_no_problem() -> None:
    result = run(PASSED, LEFT_OUT, DUAL_STACK)
    assert (
        applicable_spec_problems(result, left_out=(COPY_CERTS,), self_skips=KUBEADM_SELF_SKIPS)
        == []
    )


def test_a_failure_is_named_with_its_message() -> None:
    failed = SpecResult("[area-kubeadm] kube-proxy", "failed", 1.0, "no kube-proxy ConfigMap")
    problems = applicable_spec_problems(run(PASSED, failed), left_out=())
    assert problems == ["failed: [area-kubeadm] kube-proxy: no kube-proxy ConfigMap"]


def test_a_spec_left_out_that_the_shape_does_not_exclude_is_a_problem() -> None:
    problems = applicable_spec_problems(run(PASSED, LEFT_OUT), left_out=(MULTI_NODE,))
    assert problems == [f"left out, yet the lab's shape does not exclude it: {LEFT_OUT.name}"]


def test_a_spec_that_skipped_itself_for_another_reason_is_a_problem() -> None:
    other = SpecResult("[area-kubeadm] x", "skipped", 0.0, "Skipping because no cloud")
    problems = applicable_spec_problems(
        run(PASSED, other), left_out=(), self_skips=KUBEADM_SELF_SKIPS
    )
    assert problems == ["skipped itself: [area-kubeadm] x: Skipping because no cloud"]


def test_a_run_ginkgo_failed_outside_any_spec_or_with_nothing_passed_is_a_problem() -> None:
    assert applicable_spec_problems(run(PASSED, succeeded=False), left_out=()) != []
    assert applicable_spec_problems(run(LEFT_OUT), left_out=(COPY_CERTS,)) != []
