"""One suite run through ginkgo's CLI on the suite's binary, from the host.

A dry run with the same filters, which refuses a
focus that matches nothing before anything runs and gives the total; the run, printing
specs done of total, failures so far and elapsed; then the result from ginkgo's JSON
report, each failure's message and output written beside it. Interrupted, ginkgo gets
SIGINT (it runs the specs' cleanups and writes its reports), and the namespaces the e2e
framework made during the run are deleted.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import re
import selectors
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TextIO

from labkit.errors import LabkitError, StepFailed
from labkit.pipeline import Progress
from labkit.suites.progress import SpecCounter
from labkit.suites.report import SuiteResult, read_report
from labkit.suites.suites import LabShape, SuiteRequest

JSON_REPORT = "report.json"
JUNIT_REPORT = "junit.xml"
DRY_RUN_REPORT = "dry-run.json"
GINKGO_LOG = "ginkgo.log"
FAILURES_DIR = "failures"
# The whole run's bound: all 424 Conformance specs serially take hours on 2 cores.
SUITE_TIMEOUT = "6h"
# After SIGINT, ginkgo runs cleanups and writes reports; then it is killed.
INTERRUPT_GRACE = 120.0
PROGRESS_EVERY = 10.0
HEARTBEAT_EVERY = 60.0
# The e2e framework labels each namespace it makes with the run's id (framework/util.go).
E2E_RUN_LABEL = "e2e-run"


class SuiteInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run, after ginkgo stopped: what it reported on the specs that ran
    (None when it wrote no report)."""

    def __init__(self, partial: SuiteResult | None) -> None:
        super().__init__("interrupted")
        self.partial = partial


@dataclass
class SuiteInvocation:
    """Everything one ginkgo invocation needs, resolved."""

    request: SuiteRequest
    lab: LabShape | None
    ginkgo: Path
    binary: Path
    report_dir: Path
    suite_args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)

    def command(self, *, dry_run: bool = False) -> list[str]:
        request, suite = self.request, self.request.definition
        command = [str(self.ginkgo), "run", "--no-color", f"--timeout={SUITE_TIMEOUT}"]
        if dry_run:
            command += ["--dry-run", f"--json-report={DRY_RUN_REPORT}"]
        else:
            command += [
                f"--procs={request.parallel}",
                f"--json-report={JSON_REPORT}",
                f"--junit-report={JUNIT_REPORT}",
            ]
        command += [f"--output-dir={self.report_dir}"]
        if suite.label_filter:
            command.append(f"--label-filter={suite.label_filter}")
        command += [f"--focus={f}" for f in request.focus]
        command += [f"--skip={s}" for s in request.skips(self.lab)]
        return [*command, str(self.binary), "--", *self.suite_args]


def dry_run(invocation: SuiteInvocation, progress: Progress) -> SuiteResult:
    """The specs the filters select, without running any; a focus or skip that leaves
    none is the user's error."""
    output = _run_quietly(invocation.command(dry_run=True), invocation, progress)
    path = invocation.report_dir / DRY_RUN_REPORT
    if not path.exists():
        raise LabkitError(
            f"ginkgo refused the {invocation.request.suite} suite's filters: " + _tail(output, 10)
        )
    result = read_report(path, suite=invocation.request.suite)
    if result.will_run == 0:
        request = invocation.request
        label = request.definition.label_filter
        raise LabkitError(
            f"no spec of the {request.suite} suite ({result.total_specs} specs) matches "
            f"focus {list(request.focus) or 'none'} with skip "
            f"{list(request.skips(invocation.lab)) or 'none'}"
            + (f" and label {label}" if label else "")
            + "; `labkit conformance --help` shows the options"
        )
    return result


def run(
    invocation: SuiteInvocation,
    progress: Progress,
    on_interrupt: Callable[[], None] = lambda: None,
) -> SuiteResult:
    """Run the suite; returns its result read from ginkgo's report."""
    planned = dry_run(invocation, progress)
    progress.say(
        f"   {planned.will_run} of {planned.total_specs} specs selected; "
        f"{invocation.request.parallel} ginkgo process(es); reports in {invocation.report_dir}"
    )
    log_path = invocation.report_dir / GINKGO_LOG
    counter = SpecCounter(
        total=planned.will_run, not_selected=planned.total_specs - planned.will_run
    )
    started = time.monotonic()
    with log_path.open("w") as log:
        process = subprocess.Popen(
            invocation.command(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**os.environ, **invocation.env},
            # Its own process group: Ctrl-C reaches labkit, which stops ginkgo in order.
            start_new_session=True,
        )
        follow = _Follower(process, log, counter, progress, started)
        try:
            follow()
        except KeyboardInterrupt:
            progress.say("   interrupted: stopping ginkgo (it runs the specs' cleanups)")
            _stop(process, follow)
            on_interrupt()
            report = invocation.report_dir / JSON_REPORT
            partial = (
                read_report(report, suite=invocation.request.suite) if report.exists() else None
            )
            raise SuiteInterrupted(partial) from None
    code = process.wait()
    report = invocation.report_dir / JSON_REPORT
    if not report.exists():
        raise StepFailed(
            operation=f"run the {invocation.request.suite} suite",
            reason=f"ginkgo exited {code} without a report",
            evidence={"ginkgo output (tail)": _tail(log_path.read_text(), 40)},
        )
    result = replace(read_report(report, suite=invocation.request.suite), exit_code=code)
    _write_failures(result, invocation.report_dir / FAILURES_DIR)
    return result


class _Follower:
    """Reads ginkgo's output into the log and the counter, saying progress now and then."""

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        log: TextIO,
        counter: SpecCounter,
        progress: Progress,
        started: float,
    ) -> None:
        assert process.stdout is not None
        self.process, self.log, self.counter = process, log, counter
        self.progress, self.started = progress, started
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.selector = selectors.DefaultSelector()
        self.selector.register(process.stdout, selectors.EVENT_READ)
        self.said, self.said_at = (0, 0), started

    def __call__(self, deadline: float | None = None) -> bool:
        """Follow until ginkgo closes its output (True) or the deadline passes (False)."""
        assert self.process.stdout is not None
        while deadline is None or time.monotonic() < deadline:
            if self.selector.select(timeout=1.0):
                chunk = os.read(self.process.stdout.fileno(), 65536)
                if not chunk:
                    self._say()
                    return True
                text = self.decoder.decode(chunk)
                self.log.write(text)
                self.log.flush()  # the log is there to be followed: `tail -f`
                self.counter.feed(text)
            now = time.monotonic()
            state = (self.counter.finished, self.counter.failed)
            if (state != self.said and now - self.said_at >= PROGRESS_EVERY) or (
                now - self.said_at >= HEARTBEAT_EVERY
            ):
                self._say()
        return False

    def _say(self) -> None:
        now = time.monotonic()
        self.progress.say(f"   {progress_line(self.counter, now - self.started)}")
        self.said, self.said_at = (self.counter.finished, self.counter.failed), now


def progress_line(counter: SpecCounter, elapsed: float) -> str:
    total = f" of {counter.total}" if counter.total is not None else ""
    minutes, seconds = divmod(int(elapsed), 60)
    return (
        f"{counter.finished}{total} specs done, {counter.failed} failed, {minutes}m{seconds:02d}s"
    )


def _stop(process: subprocess.Popen[bytes], follow: _Follower) -> None:
    """SIGINT, then keep reading: ginkgo blocks on a full pipe while it reports; killed
    when the grace is over or on a second Ctrl-C."""
    try:
        os.killpg(process.pid, signal.SIGINT)
        follow(deadline=time.monotonic() + INTERRUPT_GRACE)
    except ProcessLookupError:
        return
    except KeyboardInterrupt:
        pass
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _run_quietly(command: Sequence[str], invocation: SuiteInvocation, progress: Progress) -> str:
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env={**os.environ, **invocation.env},
        timeout=600,
    )
    output = result.stdout + result.stderr
    progress.detail(f"$ {' '.join(command)}\n{_tail(output, 30)}")
    return output


def _write_failures(result: SuiteResult, directory: Path) -> None:
    """Each failure's message, location and captured output: the e2e framework's output of
    a failed spec ends with its namespace's events and pods."""
    for number, spec in enumerate(result.failed, 1):
        directory.mkdir(parents=True, exist_ok=True)
        slug = re.sub(r"[^A-Za-z0-9]+", "-", spec.name).strip("-")[:80]
        (directory / f"{number:03d}-{slug}.txt").write_text(
            f"{spec.name}\nstate: {spec.state}\nlocation: {spec.location}\n\n"
            f"{spec.message}\n\n--- captured output ---\n{spec.output}"
        )


def _tail(text: str, lines: int) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])
