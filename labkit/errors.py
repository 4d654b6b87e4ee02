"""The two kinds of failure labkit reports.

A `LabkitError` is the user's to fix (bad spec, missing engine, missing image) and is
raised before anything is created. A `StepFailed` is the environment's: a bring-up step
that did not reach its goal, carrying the node evidence that says why.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class LabkitError(Exception):
    """Something the user can fix: the message says what was wrong and what to do."""


@dataclass
class StepFailed(Exception):
    """A step of a pipeline failed; `evidence` maps a title to the text that shows why."""

    step: str
    reason: str
    node: str | None = None
    evidence: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        where = f" on node {self.node}" if self.node else ""
        lines = [f"step {self.step!r} failed{where}: {self.reason}"]
        for title, text in self.evidence.items():
            lines.append(f"--- {title} ---")
            lines.append(text.rstrip())
        return "\n".join(lines)
