"""The two kinds of failure labkit reports.

A `LabkitError` is the user's to fix (bad spec, missing engine, missing image) and is
raised before anything is created. A `StepFailed` is the environment's: an operation that
did not reach its goal, carrying the node evidence that says why. Code inside a step
raises it with the operation, the node and the evidence; the pipeline (`run_steps`)
stamps the step that was running.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

# How much of a user's value an error message repeats (a 200 000-character name is not).
SHOWN_LENGTH = 80


def shown(value: Any) -> str:
    """`repr(value)`, cut to SHOWN_LENGTH characters with the full length said."""
    text = repr(value)
    if len(text) <= SHOWN_LENGTH:
        return text
    length = f" ({len(value)} characters)" if isinstance(value, str) else ""
    return f"{text[:SHOWN_LENGTH]}...{length}"


def cut(text: str) -> str:
    """`text` as it is, or cut to SHOWN_LENGTH characters with the full length said."""
    if len(text) <= SHOWN_LENGTH:
        return text
    return f"{text[:SHOWN_LENGTH]}... ({len(text)} characters)"


class LabkitError(Exception):
    """Something the user can fix: the message says what was wrong and what to do."""


@dataclass
class StepFailed(Exception):
    """An operation failed; `evidence` maps a title to the text that shows why."""

    reason: str
    node: str | None = None
    evidence: dict[str, str] = field(default_factory=dict)
    # What was being done (`kubeadm join`, `kubeadm init phase certs all`).
    operation: str | None = None
    # The pipeline step that was running; `run_steps` sets it.
    step: str | None = None
    # Set when several nodes failed at once: each node's own failure.
    failures: tuple[StepFailed, ...] = ()

    def __str__(self) -> str:
        where = f" on node {self.node}" if self.node else ""
        if self.step:
            head = f"step {self.step!r} failed{where}"
            if self.operation and self.operation != self.step:
                head += f" ({self.operation})"
        else:
            head = f"{self.operation or 'an operation'} failed{where}"
        lines = [f"{head}: {self.reason}"]
        for title, text in self.evidence.items():
            lines.append(f"--- {title} ---")
            lines.append(text.rstrip())
        return "\n".join(lines)

    @classmethod
    def of_several(cls, failures: Sequence[StepFailed]) -> StepFailed:
        """One failure that names every node that failed, with all their evidence."""
        nodes = [f.node or "?" for f in failures]
        reasons = "; ".join(
            f"{f.node or '?'}: {f.operation + ': ' if f.operation else ''}{f.reason}"
            for f in failures
        )
        evidence: dict[str, str] = {}
        for failure in failures:
            for title, text in failure.evidence.items():
                key = (
                    title
                    if failure.node is None or failure.node in title
                    else f"{failure.node}: {title}"
                )
                evidence[key] = text
        operations = {f.operation for f in failures}
        return cls(
            reason=f"{len(failures)} nodes failed: {reasons}",
            node=", ".join(nodes),
            evidence=evidence,
            operation=operations.pop() if len(operations) == 1 else None,
            failures=tuple(failures),
        )
