"""The diagnosis rules' registry: every rule module listed once, in a fixed running order."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from labkit.diagnose import Diagnosis, LabSnapshot, registered_rules
from labkit.diagnose.rules import RuleSet


def test_rules_run_specific_before_fallback_then_by_area() -> None:
    assert [r.name for r in registered_rules()] == [
        "control-plane.api_unreachable",
        "nodes.container_stopped",
        "nodes.no_cni",
        "nodes.kubelet_failing",
        "nodes.kubelet_stopped",
        "nodes.pressure",
        "nodes.not_registered",
        "nodes.registry_stopped",
        "pods.image_pull",
        "pods.crash_loop",
        "pods.waiting_cause",
        "pods.unschedulable",
        "nodes.not_ready",
        "pods.event_cause",
        "pods.not_running",
    ]
    assert [r.name for r in registered_rules() if r.fallback] == [
        "nodes.not_ready",
        "pods.event_cause",
        "pods.not_running",
    ]


def test_a_rule_set_of_an_unknown_area_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown area 'etcd'"):
        RuleSet("etcd")


def test_a_rule_set_keeps_its_rules_to_itself() -> None:
    rules = RuleSet("pods")

    @rules.rule(fallback=True)
    def stuck(snapshot: LabSnapshot) -> Iterator[Diagnosis]:
        yield from ()

    assert [(r.name, r.fallback) for r in rules] == [("pods.stuck", True)]
    assert "pods.stuck" not in {r.name for r in registered_rules()}
