"""The rule registry: each rule is a small function of a snapshot yielding diagnoses.

Rules are grouped by area (nodes, pods, control plane) and run in that order, so a
node's cause comes before the pod symptoms it explains. A fallback rule names a problem
no specific rule explained; it only speaks about subjects nothing else diagnosed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from labkit.constants import CONTROL_PLANE
from labkit.diagnose.snapshot import Diagnosis, LabSnapshot

RuleCheck = Callable[[LabSnapshot], Iterable[Diagnosis]]
AREAS = (CONTROL_PLANE, "nodes", "pods")


@dataclass(frozen=True)
class Rule:
    name: str
    area: str
    check: RuleCheck
    fallback: bool = False


_RULES: list[Rule] = []


def rule(area: str, *, fallback: bool = False) -> Callable[[RuleCheck], RuleCheck]:
    if area not in AREAS:
        raise ValueError(f"unknown area {area!r}; one of {AREAS}")

    def register(check: RuleCheck) -> RuleCheck:
        _RULES.append(Rule(f"{area}.{check.__name__}", area, check, fallback))
        return check

    return register


def registered_rules() -> list[Rule]:
    # Importing the rule modules is what registers their rules.
    from labkit.diagnose import control_plane, nodes, pods, scheduling  # noqa: F401

    return sorted(_RULES, key=lambda r: (r.fallback, AREAS.index(r.area)))


def run_rules(snapshot: LabSnapshot, rules: Iterable[Rule] | None = None) -> list[Diagnosis]:
    found: list[Diagnosis] = []
    for current in registered_rules() if rules is None else rules:
        explained = {d.subject for d in found}
        for diagnosis in current.check(snapshot):
            if current.fallback and diagnosis.subject in explained:
                continue
            if diagnosis not in found:
                found.append(diagnosis)
    order = {d: i for i, d in enumerate(found)}
    return sorted(found, key=lambda d: (_area_of(d), order[d]))


def _area_of(diagnosis: Diagnosis) -> int:
    prefix = diagnosis.cause_id.split(".", 1)[0]
    return {"api": 0, "node": 1, "pod": 2}.get(prefix, 3)
