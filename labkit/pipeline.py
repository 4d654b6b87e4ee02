"""Named, timed steps run in order: how labkit builds an image and brings a lab up.

A step is a small function of one context object. The pipeline reports each step as it
starts and ends, records its duration, and names the running step on any failure: code
inside a step raises `StepFailed` with the operation, the node and the evidence, and any
other exception becomes a `StepFailed` of that step.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TextIO, TypeVar

from labkit.errors import LabkitError, StepFailed
from labkit.results import Result

Context = TypeVar("Context")
_Value = TypeVar("_Value")


@dataclass(frozen=True)
class Step(Generic[Context]):
    name: str
    run: Callable[[Context], None]


@dataclass(frozen=True)
class StepTiming:
    name: str
    seconds: float


class TimedResult:
    """Mixed into the result dataclass of a pipeline run, which declares `timings`."""

    timings: list[StepTiming]

    @property
    def total_seconds(self) -> float:
        return sum(t.seconds for t in self.timings)


class LabRunResult(TimedResult, Result):
    """A pipeline run over a lab that finished: a failed one raises, so `.ok` is always
    True. Mixed into a result dataclass declaring `lab` (a LabModel) and `timings`."""

    lab: Any

    @property
    def ok(self) -> bool:
        return True

    def as_dict(self) -> dict[str, Any]:
        return {
            "lab": self.lab.name,
            "ok": self.ok,
            **self._fields(),
            "seconds": round(self.total_seconds, 2),
            "timings": {t.name: round(t.seconds, 2) for t in self.timings},
        }

    def _fields(self) -> dict[str, Any]:
        """What this kind of run adds to `as_dict()`."""
        return {}


class Progress:
    """Prints one line per event to the terminal and every detail to a log file."""

    def __init__(
        self, log_path: Path | None = None, stream: TextIO | None = None, quiet: bool = False
    ) -> None:
        self.log_path = log_path
        # Looked up now, not at import: pytest's capture and callers swap sys.stderr.
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self._log: TextIO | None = None
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = log_path.open("a", buffering=1)

    def say(self, message: str) -> None:
        """A line the user should see."""
        if not self.quiet:
            print(message, file=self.stream, flush=True)
        self.detail(message)

    def detail(self, message: str) -> None:
        """A line for the log only."""
        if self._log is not None:
            self._log.write(f"{time.strftime('%H:%M:%S')} {message}\n")

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


@contextmanager
def heartbeat(progress: Progress, what: str, every: float = 30.0) -> Iterator[None]:
    """Say every `every` seconds that `what` is still going: long builds print nothing."""
    done = threading.Event()
    started = time.monotonic()

    def beat() -> None:
        while not done.wait(every):
            progress.say(f"   ... {what} ({time.monotonic() - started:.0f}s)")

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def run_steps(
    steps: Sequence[Step[Context]], context: Context, progress: Progress
) -> list[StepTiming]:
    """Run the steps in order; a failure names the step that was running."""
    timings: list[StepTiming] = []
    for step in steps:
        progress.say(f" • {step.name} ...")
        started = time.monotonic()
        try:
            step.run(context)
        except StepFailed as failure:
            failure.step = failure.step or step.name
            raise
        except (LabkitError, KeyboardInterrupt):
            raise
        except Exception as error:
            raise StepFailed(step=step.name, reason=f"{type(error).__name__}: {error}") from error
        seconds = time.monotonic() - started
        timings.append(StepTiming(step.name, seconds))
        progress.say(f" ✓ {step.name} ({seconds:.1f}s)")
    return timings


def required(value: _Value | None) -> _Value:
    """What an earlier step of the pipeline provides: a step that runs out of order is
    labkit's bug, not the user's."""
    assert value is not None, "an earlier step provides this"
    return value
