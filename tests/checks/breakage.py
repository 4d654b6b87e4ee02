"""One broken invariant per case: how to break a good node or cluster, and which rule must
then be the only one failing, with a message naming what and where."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubeadm_like import control_plane_context, control_plane_node, worker_context, worker_node
from kubeadm_like_cluster import ClusterObjects, cluster_context, good_cluster
from kubeadm_like_pki import NodeFiles, Pki

from labkit.checks import Finding, check_cluster, check_node


@dataclass(frozen=True)
class Case:
    """`mutate` breaks a good node or cluster so that `rule_id` alone fails."""

    rule_id: str
    breaks: str
    mutate: Callable[..., None]
    path: str  # what the finding must name: a file or an object
    mentions: str  # what the finding must say (the invariant or what was found)
    # Fields of the context the case is checked against, over the good lab's.
    context: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.rule_id}[{self.breaks}]"


@dataclass(frozen=True)
class NodeCase(Case):
    mutate: Callable[[NodeFiles], None]
    role: str = "control-plane"


@dataclass(frozen=True)
class ClusterCase(Case):
    mutate: Callable[[ClusterObjects, Pki], None]


def run_node_case(case: NodeCase, pki: Pki) -> list[Finding]:
    if case.role == "control-plane":
        files, context = control_plane_node(pki), control_plane_context(**case.context)
    else:
        files, context = worker_node(pki), worker_context(**case.context)
    case.mutate(files)
    return check_node(files.artifacts(), context)


def run_cluster_case(case: ClusterCase, pki: Pki) -> list[Finding]:
    objects = good_cluster(pki.certs["ca"])
    case.mutate(objects, pki)
    return check_cluster(objects.snapshot(), cluster_context(pki.certs["ca"], **case.context))


def assert_only_rule_fails(findings: list[Finding], case: NodeCase | ClusterCase) -> None:
    failing = {f.rule_id for f in findings if f.status == "fail"}
    shown = "\n".join(f.message for f in findings if f.status == "fail")
    assert failing == {case.rule_id}, f"{case.id} made other rules fail:\n{shown}"
    messages = [f.message for f in findings if f.rule_id == case.rule_id]
    assert any(case.path in m and case.mentions in m for m in messages), (
        f"no {case.rule_id} finding names {case.path!r} and {case.mentions!r}:\n{shown}"
    )
