"""What a suite run did, read from ginkgo's JSON report (`--json-report`).

The JSON report is a list of suite reports; each carries `PreRunStats` (specs in the
suite, specs the filters let run) and one `SpecReport` per spec and per suite-level node
(`SynchronizedBeforeSuite`, `ReportAfterSuite`, ...). A spec the filters left out is
`skipped` with no failure; one that skipped itself at run time (`e2eskipper`) is
`skipped` with its reason as the failure message.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from labkit.errors import StepFailed
from labkit.results import Result

# Ginkgo's SpecState names (types.go, ssEnumSupport) that mean the spec did not pass.
FAILED_STATES = frozenset({"failed", "aborted", "panicked", "interrupted", "timedout"})
KNOWN_STATES = FAILED_STATES | {"passed", "skipped", "pending"}
SPEC_NODE = "It"
# What `labkit conformance` prints at its end: the slowest specs, each failure's first lines.
SLOWEST = 5
MESSAGE_LINES = 6


@dataclass(frozen=True)
class SpecResult:
    """One spec (or a suite-level node that failed), as ginkgo reported it."""

    name: str
    state: str
    seconds: float
    message: str = ""
    location: str = ""
    labels: tuple[str, ...] = ()
    output: str = ""
    node_type: str = SPEC_NODE

    @property
    def failed(self) -> bool:
        return self.state in FAILED_STATES

    @property
    def selected(self) -> bool:
        """The filters let it run: it ran, or it skipped itself saying why."""
        return self.state != "skipped" or bool(self.message)


@dataclass(frozen=True, repr=False)
class SuiteResult(Result):
    """A suite run: its specs with states, messages and durations, ginkgo's own verdict,
    and where the reports are; `str()` is what `labkit conformance` prints at its end."""

    suite: str
    specs: tuple[SpecResult, ...]
    total_specs: int
    will_run: int
    seconds: float
    succeeded: bool
    special_failures: tuple[str, ...] = ()
    report_dir: Path | None = None
    exit_code: int | None = field(default=None, compare=False)

    @property
    def passed(self) -> list[SpecResult]:
        return [s for s in self.specs if s.state == "passed"]

    @property
    def failed(self) -> list[SpecResult]:
        return [s for s in self.specs if s.failed]

    @property
    def skipped(self) -> list[SpecResult]:
        """Specs that ran but skipped themselves (a feature the lab lacks), with the reason."""
        return [s for s in self.specs if s.state == "skipped" and s.selected]

    @property
    def not_selected(self) -> list[SpecResult]:
        return [s for s in self.specs if not s.selected]

    @property
    def ok(self) -> bool:
        """Nothing failed, and ginkgo agrees: its verdict also counts failures outside any
        spec (a failed BeforeSuite, a process that died)."""
        return self.succeeded and not self.failed and not self.special_failures

    def __str__(self) -> str:
        lines = [f"{self.suite} suite: {self.summary()}"]
        slowest = self.slowest(SLOWEST)
        if slowest:
            lines.append("slowest:")
            lines += [f"  {spec.seconds:7.1f}s  {spec.name}" for spec in slowest]
        for spec in self.failed:
            lines.append(f"FAILED ({spec.state}) {spec.name}")
            if spec.location:
                lines.append(f"  at {spec.location}")
            message = spec.message.splitlines()[:MESSAGE_LINES] or ["(no message)"]
            lines += [f"  {line}" for line in message]
        lines += [f"FAILED suite: {reason}" for reason in self.special_failures]
        if not self.succeeded and not self.failed and not self.special_failures:
            lines.append(f"FAILED suite: ginkgo reported failure (exit {self.exit_code})")
        if self.report_dir is not None:
            lines.append(f"reports: {self.report_dir}")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        # Each spec without its captured output: that is in the report folder, and can be
        # megabytes of the e2e framework's namespace dump.
        specs = [{k: v for k, v in asdict(s).items() if k != "output"} for s in self.specs]
        return {
            "suite": self.suite,
            "ok": self.ok,
            "summary": self.summary(),
            "total_specs": self.total_specs,
            "will_run": self.will_run,
            "seconds": round(self.seconds, 2),
            "succeeded": self.succeeded,
            "exit_code": self.exit_code,
            "special_failures": list(self.special_failures),
            "report_dir": None if self.report_dir is None else str(self.report_dir),
            "specs": [{**spec, "labels": list(spec["labels"])} for spec in specs],
        }

    def _headline(self) -> str:
        return f"{self.suite!r}: {len(self.specs)} specs, {len(self.failed)} failed"

    def slowest(self, count: int = 5) -> list[SpecResult]:
        ran = [s for s in self.specs if s.node_type == SPEC_NODE and s.state != "skipped"]
        return sorted(ran, key=lambda s: s.seconds, reverse=True)[:count]

    def failures_text(self) -> str:
        """Each failure with its message: what an assertion on `ok` should show."""
        lines = [f"{self.suite} suite: {self.summary()}"]
        for spec in self.failed:
            lines.append(f"FAILED ({spec.state}) {spec.name}\n  {spec.message}")
        lines += [f"FAILED suite: {reason}" for reason in self.special_failures]
        if self.report_dir is not None:
            lines.append(f"reports: {self.report_dir}")
        return "\n".join(lines)

    def summary(self) -> str:
        return (
            f"{len(self.passed)} passed, {len(self.failed)} failed, "
            f"{len(self.skipped)} skipped, {len(self.not_selected)} not selected "
            f"of {self.total_specs} specs in {self.seconds:.1f}s"
        )


def read_report(path: Path, *, suite: str) -> SuiteResult:
    """Parse ginkgo's JSON report; a report that is not one is a StepFailed naming what is
    missing, never a result that says nothing failed."""
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise _broken(path, f"cannot be read as JSON: {error}") from error
    if not isinstance(data, list) or not data:
        raise _broken(path, "expected a list of suite reports, found " + type(data).__name__)
    specs: list[SpecResult] = []
    total = will_run = 0
    seconds = 0.0
    succeeded = True
    special: list[str] = []
    for index, report in enumerate(data):
        where = f"[{index}]"
        stats = _field(report, "PreRunStats", dict, path, where)
        total += _field(stats, "TotalSpecs", int, path, f"{where}.PreRunStats")
        will_run += _field(stats, "SpecsThatWillRun", int, path, f"{where}.PreRunStats")
        succeeded &= _field(report, "SuiteSucceeded", bool, path, where)
        seconds += _field(report, "RunTime", int, path, where) / 1e9
        special += report.get("SpecialSuiteFailureReasons") or []
        for number, spec in enumerate(report.get("SpecReports") or []):
            result = _spec(spec, path, f"{where}.SpecReports[{number}]")
            if result.node_type == SPEC_NODE or result.failed:
                specs.append(result)
    return SuiteResult(
        suite=suite,
        specs=tuple(specs),
        total_specs=total,
        will_run=will_run,
        seconds=seconds,
        succeeded=succeeded,
        special_failures=tuple(special),
        report_dir=path.parent,
    )


def _spec(spec: Any, path: Path, where: str) -> SpecResult:
    if not isinstance(spec, dict):
        raise _broken(path, f"{where}: expected an object, found {type(spec).__name__}")
    state = _field(spec, "State", str, path, where)
    if state not in KNOWN_STATES:
        raise _broken(path, f"{where}.State: {state!r} is not a ginkgo spec state")
    node_type = _field(spec, "LeafNodeType", str, path, where)
    texts = [*(spec.get("ContainerHierarchyTexts") or []), spec.get("LeafNodeText") or ""]
    name = " ".join(t for t in texts if t) or f"[{node_type}]"
    failure = spec.get("Failure") or {}
    location = failure.get("Location") or {}
    groups = spec.get("ContainerHierarchyLabels") or []
    labels = [label for group in groups for label in group or []]
    return SpecResult(
        name=name,
        state=state,
        seconds=(spec.get("RunTime") or 0) / 1e9,
        message=(failure.get("Message") or "").strip(),
        location=(
            f"{location['FileName']}:{location.get('LineNumber', 0)}"
            if location.get("FileName")
            else ""
        ),
        labels=tuple(labels + list(spec.get("LeafNodeLabels") or [])),
        output=spec.get("CapturedGinkgoWriterOutput") or "",
        node_type=node_type,
    )


def _field(data: Any, name: str, kind: type, path: Path, where: str) -> Any:
    value = data.get(name) if isinstance(data, dict) else None
    # bool is an int in Python: a count that is True is as wrong as a missing one.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        found = "nothing" if value is None else repr(value)[:60]
        raise _broken(path, f"{where}.{name}: expected {kind.__name__}, found {found}")
    return value


def _broken(path: Path, reason: str) -> StepFailed:
    return StepFailed(operation="read ginkgo's JSON report", reason=f"{path}: {reason}")
