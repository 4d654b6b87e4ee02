"""Specs done, failures so far: counted from ginkgo's default reporter as it prints.

Ginkgo prints one character per spec that needs no detail (`•` passed, `S` skipped, `P`
pending) on a line of its own making, and a block between two rules of dashes for a spec
that does (a failure, a slow spec, a spec with output): the first line after a rule of dashes
starts with the spec's character and, for a failure, says `[FAILED]`, `[PANICKED]`, `[TIMEDOUT]` or
`[INTERRUPTED]`. Everything else (the header, `Ran N of M Specs`, `SUCCESS!`) is text.
Only what is printed while it runs is counted here; the result comes from the report.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

RULE = "-" * 30
PASSED = "•"  # also the mark of a failed spec, whose block says so
SPEC_MARKS = frozenset("•SP")
_FAILURE = re.compile(r"\[(FAILED|PANICKED|TIMEDOUT|INTERRUPTED|ABORTED)\]")
_WILL_RUN = re.compile(r"Will run (\d+) of (\d+) specs")


@dataclass
class SpecCounter:
    """Feed it ginkgo's output in pieces of any size; read `done` (specs that ran),
    `failed`, `skipped` (left out by the filters or skipped at run time) and `total` (what
    the filters let run)."""

    done: int = 0
    skipped: int = 0
    failed: int = 0
    total: int | None = None
    # Specs the filters leave out: ginkgo marks them `S` too, among the ones that run.
    not_selected: int = 0
    _line: str = ""
    _counted: int = 0  # marks of the unfinished line already counted
    _after_rule: bool = False

    def feed(self, text: str) -> None:
        for char in text:
            if char == "\n":
                self._end_line()
            else:
                self._line += char
        self._count_partial()

    def _count_partial(self) -> None:
        # A line of marks grows without a newline while specs pass; count as it grows.
        if not self._line or not set(self._line) <= SPEC_MARKS:
            return
        self._add(self._line[self._counted :], 1)
        self._counted = len(self._line)

    def _end_line(self) -> None:
        line, counted = self._line.rstrip("\r"), self._counted
        self._line, self._counted = "", 0
        after_rule, self._after_rule = self._after_rule, False
        if line and set(line) <= SPEC_MARKS:
            self._add(line[counted:], 1)
            return
        self._add(line[:counted], -1)  # marks that turned out to start a line of text
        stripped = line.strip()
        # Consecutive blocks share one rule, so a rule both ends a block and may start one.
        if stripped.startswith(RULE) and set(stripped) == {"-"}:
            self._after_rule = True
        elif after_rule and stripped[:1] in SPEC_MARKS and stripped[1:2] == " ":
            self._add(stripped[0], 1)
            self.failed += bool(_FAILURE.search(stripped))
        elif match := _WILL_RUN.search(line):
            self.total = int(match[1])

    @property
    def finished(self) -> int:
        """Specs of the total that are over: ran, or skipped themselves at run time."""
        return self.done + max(0, self.skipped - self.not_selected)

    def _add(self, marks: str, sign: int) -> None:
        ran = marks.count(PASSED)
        self.done += sign * ran
        self.skipped += sign * (len(marks) - ran)
