"""The suites labkit runs, as data: which binary, which specs, which flags.

kubeadm's suite reads objects through an admin kubeconfig; kinder skips its
`[copy-certs]` specs unless the cluster has several control planes (the kubeadm-certs
Secret exists only for `--upload-certs`), and `[multi-node]` ones on a one-node cluster.
The Conformance suite is the specs of e2e.test labelled `Conformance` (the framework's
`ConformanceIt` gives each the label and the `[Conformance]` text).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from labkit.errors import LabkitError
from labkit.suites.binaries import E2E, E2E_KUBEADM, GoProgram
from labkit.suites.expressions import re2_problem


@dataclass(frozen=True)
class Suite:
    name: str
    program: GoProgram
    label_filter: str = ""
    # A whole-suite run of these specs takes minutes: each spec's own timeout.
    spec_timeout: str = "15m"


SUITES = {
    "kubeadm": Suite("kubeadm", E2E_KUBEADM),
    "conformance": Suite("conformance", E2E, label_filter="Conformance"),
}
COPY_CERTS = r"\[copy-certs\]"
MULTI_NODE = r"\[multi-node\]"
# What e2e_kubeadm's specs skip themselves for on a single-stack lab (networking_test.go).
KUBEADM_SELF_SKIPS = ("Skipping because cluster is not dual-stack",)


@dataclass(frozen=True)
class LabShape:
    """What decides a suite's skips and flags: the lab's nodes and where its API is."""

    control_planes: int
    nodes: int
    kubeconfig: Path


@dataclass(frozen=True)
class SuiteRequest:
    """One run: the suite, ginkgo's own focus and skip expressions (passed as they are),
    parallel processes, and where the reports go (None: a new folder per run)."""

    suite: str = "kubeadm"
    focus: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()
    parallel: int = 1
    report_dir: Path | None = None

    @classmethod
    def of(
        cls,
        suite: str = "kubeadm",
        *,
        focus: str | Sequence[str] = (),
        skip: str | Sequence[str] = (),
        parallel: int = 1,
        report_dir: Path | None = None,
    ) -> SuiteRequest:
        """A request whose focus and skip may each be one expression or several."""
        return cls(suite, _strings(focus), _strings(skip), parallel, report_dir)

    def __post_init__(self) -> None:
        if self.suite not in SUITES:
            raise LabkitError(
                f"suite: {self.suite!r} is not a suite labkit runs; expected one of "
                f"{', '.join(SUITES)}"
            )
        if isinstance(self.parallel, bool) or not isinstance(self.parallel, int):
            raise LabkitError(f"parallel: expected a number of processes, found {self.parallel!r}")
        if self.parallel < 1:
            raise LabkitError(f"parallel: expected 1 or more processes, found {self.parallel}")
        for name, expressions in (("focus", self.focus), ("skip", self.skip)):
            for expression in expressions:
                if not isinstance(expression, str) or not expression:
                    raise LabkitError(
                        f"{name}: expected a regular expression, found {expression!r}"
                    )
                _check_expression(name, expression)

    @property
    def definition(self) -> Suite:
        return SUITES[self.suite]

    def skips(self, lab: LabShape | None) -> tuple[str, ...]:
        """The user's skips, plus what does not apply to this lab's shape (no lab: every
        spec the filters select, as when specs are listed before the lab exists)."""
        extra: list[str] = []
        if self.suite == "kubeadm" and lab is not None:
            if lab.control_planes < 2:
                extra.append(COPY_CERTS)
            if lab.nodes < 2:
                extra.append(MULTI_NODE)
        return (*self.skip, *extra)


def _check_expression(name: str, expression: str) -> None:
    # Refused here, before ginkgo starts, as ginkgo would refuse it.
    problem = re2_problem(expression)
    if problem:
        raise LabkitError(f"{name}: {expression!r}{problem}")


def _strings(value: str | Sequence[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)
