"""Why a lab is unwell, in plain words: the likely cause of each problem and its fix.

`diagnose(lab)` reads the lab once into a `LabSnapshot` (nodes, pods, events, journal tails
of the nodes that look unwell; the control plane's own view when the API is down) and runs
small rules over it, one module per area: `nodes`, `pods`, `scheduling`, `control_plane`.
Adding a cause is adding a rule or a table row there, plus its unit test; a new rule
module's `RULES` is listed in `_RULE_SETS` below.
"""

from __future__ import annotations

from labkit.diagnose import control_plane, nodes, pods, registry, scheduling
from labkit.diagnose.fetch import fetch_snapshot
from labkit.diagnose.report import LabDiagnosis, as_data, format_text, looked_at
from labkit.diagnose.rules import Rule, RuleSet, in_running_order, run_rules
from labkit.diagnose.snapshot import Diagnosis, LabSnapshot
from labkit.lab.model import LabModel
from labkit.lab.runtime import RuntimeContainer

# pods before scheduling: within an area, rules run in the order listed here.
_RULE_SETS: tuple[RuleSet, ...] = (
    control_plane.RULES,
    nodes.RULES,
    registry.RULES,
    pods.RULES,
    scheduling.RULES,
)


def registered_rules() -> list[Rule]:
    return in_running_order(_RULE_SETS)


def diagnose_snapshot(snapshot: LabSnapshot) -> list[Diagnosis]:
    return run_rules(snapshot, registered_rules())


def diagnose(lab: LabModel) -> LabDiagnosis:
    """The likely causes of whatever is wrong with `lab` (none when it looks healthy), and
    the snapshot they were read from."""
    snapshot = fetch_snapshot(lab)
    return LabDiagnosis(tuple(diagnose_snapshot(snapshot)), snapshot)


__all__ = [
    "Diagnosis",
    "LabDiagnosis",
    "LabSnapshot",
    "Rule",
    "RuleSet",
    "RuntimeContainer",
    "as_data",
    "diagnose",
    "diagnose_snapshot",
    "format_text",
    "looked_at",
    "registered_rules",
]
