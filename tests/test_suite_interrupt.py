"""Ctrl-C during a suite: ginkgo gets SIGINT and labkit keeps reading while ginkgo reports
(more than a pipe holds), so ginkgo finishes on its own; one that ignores SIGINT is killed
when the grace is over. A real process stands in for ginkgo."""

from __future__ import annotations

import io
import subprocess
import sys
import time

import pytest

import labkit.suites.ginkgo as ginkgo
from labkit.pipeline import Progress
from labkit.suites.progress import SpecCounter

# Prints marks until SIGINT, then a report larger than a pipe's buffer, then exits 1.
REPORTS_ON_SIGINT = """
import signal, sys, time
def stop(*_):
    sys.stdout.write("\\n------------------------------\\n• [INTERRUPTED] [1.0 seconds]\\n")
    sys.stdout.write("x" * 200_000 + "\\n")
    sys.stdout.flush()
    sys.exit(1)
signal.signal(signal.SIGINT, stop)
print("Will run 3 of 3 specs", flush=True)
while True:
    sys.stdout.write("•"); sys.stdout.flush(); time.sleep(0.05)
"""
IGNORES_SIGINT = """
import signal, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
print("Will run 3 of 3 specs", flush=True)
time.sleep(60)
"""


def start(script: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def follower(process: subprocess.Popen[bytes], log: io.StringIO) -> ginkgo._Follower:
    progress = Progress(None, stream=io.StringIO())
    return ginkgo._Follower(process, log, SpecCounter(), progress, time.monotonic())


def test_ginkgo_reporting_after_sigint_is_read_to_its_end() -> None:
    process = start(REPORTS_ON_SIGINT)
    log = io.StringIO()
    follow = follower(process, log)
    assert not follow(deadline=time.monotonic() + 1.0)  # still running: marks so far
    started = time.monotonic()
    ginkgo._stop(process, follow)
    assert process.returncode == 1  # it exited by itself, not by SIGKILL
    assert time.monotonic() - started < 10
    assert "x" * 200_000 in log.getvalue()
    assert follow.counter.failed == 1 and follow.counter.done > 1


def test_ginkgo_ignoring_sigint_is_killed_after_the_grace(monkeypatch) -> None:
    monkeypatch.setattr(ginkgo, "INTERRUPT_GRACE", 1.0)
    process = start(IGNORES_SIGINT)
    follow = follower(process, io.StringIO())
    follow(deadline=time.monotonic() + 0.5)
    ginkgo._stop(process, follow)
    assert process.returncode == -9


@pytest.mark.parametrize("elapsed", [5.0, 3725.0])
def test_the_progress_line_says_done_of_total_failures_and_elapsed(elapsed: float) -> None:
    counter = SpecCounter(total=462, not_selected=2744)
    counter.feed("Will run 462 of 3206 specs\n" + "S" * 2744 + "•" * 10)
    line = ginkgo.progress_line(counter, elapsed)
    assert line.startswith("10 of 462 specs done, 0 failed, ")
    assert line.endswith("0m05s" if elapsed == 5.0 else "62m05s")
