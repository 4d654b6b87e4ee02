"""Rules: each is a small function of a snapshot yielding diagnoses.

Each rule module declares its rules in its own `RuleSet`, and `labkit.diagnose` lists
those sets, as `labkit.checks` lists its own. Rules run by area (control plane, nodes,
pods), so a node's cause comes before the pod symptoms it explains. A fallback rule names
a problem no specific rule explained; it only speaks about subjects nothing else diagnosed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

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


@dataclass
class RuleSet:
    """The rules of one module, all of one area, in the order they are declared."""

    area: str
    rules: list[Rule] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.area not in AREAS:
            raise ValueError(f"unknown area {self.area!r}; one of {AREAS}")

    def rule(self, *, fallback: bool = False) -> Callable[[RuleCheck], RuleCheck]:
        def register(check: RuleCheck) -> RuleCheck:
            self.rules.append(Rule(f"{self.area}.{check.__name__}", self.area, check, fallback))
            return check

        return register

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules)


def in_running_order(rule_sets: Iterable[RuleSet]) -> list[Rule]:
    """Specific rules before fallbacks, each kind by area; declaration order otherwise."""
    rules = [rule for rule_set in rule_sets for rule in rule_set]
    return sorted(rules, key=lambda r: (r.fallback, AREAS.index(r.area)))


def run_rules(snapshot: LabSnapshot, rules: Iterable[Rule]) -> list[Diagnosis]:
    found: list[Diagnosis] = []
    for current in rules:
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
