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
import os
import re
import selectors
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

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


@dataclass
class SuiteInvocation:
    """Everything one ginkgo invocation needs, resolved."""

    request: SuiteRequest
    lab: LabShape
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
        try:
            _follow(process, log, counter, progress, started)
        except KeyboardInterrupt:
            progress.say("   interrupted: stopping ginkgo (it runs the specs' cleanups)")
            _stop(process)
            on_interrupt()
            raise
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


def _follow(
    process: subprocess.Popen[bytes],
    log: object,
    counter: SpecCounter,
    progress: Progress,
    started: float,
) -> None:
    assert process.stdout is not None
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    said, said_at = (0, 0), started
    while True:
        ready = selector.select(timeout=1.0)
        if ready:
            chunk = os.read(process.stdout.fileno(), 65536)
            if not chunk:
                break
            text = decoder.decode(chunk)
            log.write(text)  # type: ignore[attr-defined]
            counter.feed(text)
        now = time.monotonic()
        state = (counter.finished, counter.failed)
        if (state != said and now - said_at >= PROGRESS_EVERY) or now - said_at >= HEARTBEAT_EVERY:
            progress.say(f"   {progress_line(counter, now - started)}")
            said, said_at = state, now
    progress.say(f"   {progress_line(counter, time.monotonic() - started)}")


def progress_line(counter: SpecCounter, elapsed: float) -> str:
    total = f" of {counter.total}" if counter.total is not None else ""
    minutes, seconds = divmod(int(elapsed), 60)
    return (
        f"{counter.finished}{total} specs done, {counter.failed} failed, {minutes}m{seconds:02d}s"
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=INTERRUPT_GRACE)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


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
