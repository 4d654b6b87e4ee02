"""Why a lab is unwell, in plain words: the likely cause of each problem and its fix.

`diagnose(lab)` reads the lab once into a `LabSnapshot` (nodes, pods, events, journal tails
of the nodes that look unwell; the control plane's own view when the API is down) and runs
small rules over it, one module per area: `nodes`, `pods`, `scheduling`, `control_plane`.
Adding a cause is adding a rule or a table row there, plus its unit test.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from labkit.diagnose.report import as_data, format_text, looked_at
from labkit.diagnose.rules import Rule, registered_rules, run_rules
from labkit.diagnose.snapshot import Diagnosis, LabSnapshot, RuntimeContainer

if TYPE_CHECKING:
    from labkit.lab.lab import Lab


def diagnose_snapshot(snapshot: LabSnapshot) -> list[Diagnosis]:
    return run_rules(snapshot)


def diagnose(lab: Lab) -> list[Diagnosis]:
    """The likely causes of whatever is wrong with `lab`; empty when it looks healthy."""
    from labkit.diagnose.fetch import fetch_snapshot

    return run_rules(fetch_snapshot(lab))


__all__ = [
    "Diagnosis",
    "LabSnapshot",
    "Rule",
    "RuntimeContainer",
    "as_data",
    "diagnose",
    "diagnose_snapshot",
    "format_text",
    "looked_at",
    "registered_rules",
]
