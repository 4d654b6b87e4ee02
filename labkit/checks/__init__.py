"""kubeadm's documented invariants as small rules over a node's files and the cluster's objects.

    artifacts = read_node_artifacts(container, "lab-control-plane", ROLE_CONTROL_PLANE)
    findings = check_node(artifacts, CheckContext(...))
    findings += check_cluster(fetch_cluster_snapshot(api_client), ClusterContext(...))

Rules only report departures: a clean run is an empty list, and `all_rules()` is what
passed. Findings with status "known" are CIS items kubeadm's defaults fail. For a running
lab, `labkit.checks.lab.check_lab(lab)` builds the contexts and does all of this.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from labkit.checks import (
    addons,
    cis,
    cluster_objects,
    container_runtime,
    control_planes,
    kubeconfigs,
    kubelet_files,
    manifests,
    node_state,
    pki,
    registry_mirrors,
)
from labkit.checks.artifacts import FileEntry, NodeArtifacts, read_node_artifacts
from labkit.checks.context import CheckContext, ClusterContext
from labkit.checks.control_planes import LabFiles
from labkit.checks.findings import Finding, Rule
from labkit.checks.parsing import ca_cert_hash
from labkit.checks.snapshot import ClusterSnapshot, fetch_cluster_snapshot
from labkit.errors import LabkitError
from labkit.kubeadm.images import parse_images_list

__all__ = [
    "CheckContext",
    "ClusterContext",
    "ClusterSnapshot",
    "FileEntry",
    "Finding",
    "LabFiles",
    "NodeArtifacts",
    "Rule",
    "all_rules",
    "ca_cert_hash",
    "check_cluster",
    "check_node",
    "check_nodes",
    "cluster_rules",
    "fetch_cluster_snapshot",
    "node_rules",
    "nodes_rules",
    "parse_images_list",
    "read_node_artifacts",
]

_NODE_RULE_SETS = (pki.RULES, kubeconfigs.RULES, manifests.RULES, kubelet_files.RULES, cis.RULES)
_NODES_RULE_SETS = (control_planes.RULES, registry_mirrors.RULES)
_CLUSTER_RULE_SETS = (
    cluster_objects.RULES,
    addons.RULES,
    node_state.RULES,
    container_runtime.RULES,
)


def node_rules() -> tuple[Rule, ...]:
    return tuple(rule for rule_set in _NODE_RULE_SETS for rule in rule_set)


def nodes_rules() -> tuple[Rule, ...]:
    return tuple(rule for rule_set in _NODES_RULE_SETS for rule in rule_set)


def cluster_rules() -> tuple[Rule, ...]:
    return tuple(rule for rule_set in _CLUSTER_RULE_SETS for rule in rule_set)


def all_rules() -> tuple[Rule, ...]:
    return node_rules() + nodes_rules() + cluster_rules()


def check_node(
    artifacts: NodeArtifacts,
    context: CheckContext,
    *,
    strict: bool = False,
    rules: Iterable[Rule] | None = None,
) -> list[Finding]:
    """Every node rule (or only `rules`) over one node's artifacts; `strict` makes known CIS
    items failures."""
    if (artifacts.node, artifacts.role) != (context.node, context.role):
        raise LabkitError(
            f"artifacts of {artifacts.node} ({artifacts.role}) checked against the context of "
            f"{context.node} ({context.role}); build one CheckContext per node"
        )
    selected = node_rules() if rules is None else rules
    findings = [f for rule in selected for f in rule.run(artifacts, context, node=context.node)]
    return _strict(findings) if strict else findings


def check_nodes(
    lab: LabFiles,
    context: ClusterContext,
    *,
    strict: bool = False,
    rules: Iterable[Rule] | None = None,
) -> list[Finding]:
    """Every rule across nodes (or only `rules`) over every node's files and etcd's members."""
    selected = nodes_rules() if rules is None else rules
    findings = [f for rule in selected for f in rule.run(lab, context, node="lab")]
    return _strict(findings) if strict else findings


def check_cluster(
    snapshot: ClusterSnapshot,
    context: ClusterContext,
    *,
    strict: bool = False,
    rules: Iterable[Rule] | None = None,
) -> list[Finding]:
    """Every cluster rule (or only `rules`) over one snapshot of the cluster's objects."""
    selected = cluster_rules() if rules is None else rules
    findings = [f for rule in selected for f in rule.run(snapshot, context, node="cluster")]
    return _strict(findings) if strict else findings


def _strict(findings: list[Finding]) -> list[Finding]:
    return [replace(f, status="fail") for f in findings]
