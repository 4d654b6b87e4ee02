"""Suite runs shared by the tests of one lab: the first test that asks for a suite with
given options runs it, the others read the same result (the `lab_conformance` fixture)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from labkit.lab.model import LabModel
from labkit.suites.report import SpecResult, SuiteResult
from labkit.suites.run import run_suite
from labkit.suites.suites import COPY_CERTS, KUBEADM_SELF_SKIPS, SuiteRequest


class SharedSuiteRuns:
    """`runs("kubeadm")` runs the suite on the lab once; a second call with the same
    options returns the first call's result.

    >>> runs = SharedSuiteRuns(lab, report_root=Path("labkit-logs"))  # doctest: +SKIP
    >>> runs("kubeadm").ok  # doctest: +SKIP
    True
    """

    def __init__(self, lab: LabModel, report_root: Path | None = None) -> None:
        self.lab = lab
        self.report_root = report_root
        self._results: dict[tuple[object, ...], SuiteResult] = {}

    def __call__(
        self,
        suite: str = "kubeadm",
        *,
        focus: str | Sequence[str] = (),
        skip: str | Sequence[str] = (),
        parallel: int = 1,
    ) -> SuiteResult:
        request = SuiteRequest.of(suite, focus=focus, skip=skip, parallel=parallel)
        key = (request.suite, request.focus, request.skip, request.parallel)
        if key not in self._results:
            if self.report_root is not None:
                report_dir = self.report_root / f"{self.lab.name}-{suite}-{len(self._results)}"
                request = replace(request, report_dir=report_dir)
            self._results[key] = run_suite(self.lab, request)
        return self._results[key]

    def spec(self, name: str, suite: str = "kubeadm", **options: object) -> SpecResult:
        """One spec's result from the suite's shared run (run first if it has not)."""
        result = self(suite, **options)  # type: ignore[arg-type]
        for spec in result.specs:
            if spec.name == name:
                return spec
        raise LookupError(f"the {suite} suite's report has no spec {name!r} ({result.summary()})")


def check_spec(spec: SpecResult) -> None:
    """A spec's result in pytest's terms: left out for the lab's shape or skipped by
    itself is a skip (with why), a failure fails with ginkgo's message and location."""
    import pytest

    if not spec.selected:
        pytest.skip("left out: it does not apply to this lab's shape, or the run's filters")
    if spec.state == "skipped":
        pytest.skip(spec.message)
    if spec.failed:
        where = f"\nat {spec.location}" if spec.location else ""
        pytest.fail(f"{spec.state}: {spec.message}{where}", pytrace=False)
    if spec.state != "passed":
        pytest.fail(f"ginkgo reported {spec.state}", pytrace=False)


def applicable_spec_problems(
    result: SuiteResult, *, left_out: Sequence[str], self_skips: Sequence[str] = ()
) -> list[str]:
    """What keeps a run from "every spec that applies passed": a failure, a spec left out
    that no `left_out` expression (the lab's shape) names, a spec that skipped itself for a
    reason other than `self_skips`, or no spec passing at all.

    >>> applicable_spec_problems(result, left_out=(COPY_CERTS,))  # doctest: +SKIP
    []
    """
    problems = [f"failed: {spec.name}: {spec.message}" for spec in result.failed]
    if not result.ok and not problems:
        problems.append(f"the run failed outside any spec: {result.summary()}")
    if not result.passed:
        problems.append(f"no spec passed: {result.summary()}")
    shapes = [re.compile(expression) for expression in left_out]
    problems += [
        f"left out, yet the lab's shape does not exclude it: {spec.name}"
        for spec in result.not_selected
        if not any(shape.search(spec.name) for shape in shapes)
    ]
    problems += [
        f"skipped itself: {spec.name}: {spec.message}"
        for spec in result.skipped
        if spec.message not in self_skips
    ]
    return problems


def kubeadm_suite_problems_with_one_control_plane(result: SuiteResult) -> list[str]:
    """What keeps e2e_kubeadm on a lab of one control plane and workers from "every spec
    that applies passed": only `[copy-certs]` may be left out (no kubeadm-certs Secret
    without several control planes), only the dual-stack spec may skip itself, and its
    `[multi-node]` specs must have run."""
    problems = applicable_spec_problems(
        result, left_out=(COPY_CERTS,), self_skips=KUBEADM_SELF_SKIPS
    )
    if not any("[multi-node]" in spec.name for spec in result.passed):
        problems.append(f"no [multi-node] spec passed: {result.summary()}")
    return problems
