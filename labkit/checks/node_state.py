"""The nodes as the API sees them: registered, Ready, marked by role; and CoreDNS serving."""

from __future__ import annotations

from collections.abc import Iterator

from labkit.checks.addons import KUBE_DNS, pods_with
from labkit.checks.context import ClusterContext
from labkit.checks.findings import RuleSet, Violation, kubeadm_source
from labkit.checks.snapshot import (
    KUBE_SYSTEM,
    ClusterSnapshot,
    Object,
    labels_of,
    name_of,
    object_path,
)

RULES = RuleSet(artifact="node-state", scope="cluster")

MARK_CONTROL_PLANE = kubeadm_source("phases/markcontrolplane/markcontrolplane.go")
CONTROL_PLANE_ROLE = "node-role.kubernetes.io/control-plane"
EXCLUDE_FROM_LB = "node.kubernetes.io/exclude-from-external-load-balancers"
CONTROL_PLANE_TAINT = (CONTROL_PLANE_ROLE, "NoSchedule")


def _condition(obj: Object, kind: str) -> Object:
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind:
            return condition
    return {}


def _taints(node: Object) -> set[tuple[str, str]]:
    return {
        (t.get("key", ""), t.get("effect", ""))
        for t in (node.get("spec") or {}).get("taints") or []
    }


def _nodes(snapshot: ClusterSnapshot, names: tuple[str, ...]) -> Iterator[tuple[str, Object]]:
    """The named nodes that are registered; `node-state.registered` reports the others."""
    for name in names:
        node = snapshot.node(name)
        if node is not None:
            yield name, node


@RULES.rule(id="node-state.registered", source=kubeadm_source("cmd/phases/join/kubelet.go"))
def registered(snapshot: ClusterSnapshot, context: ClusterContext) -> Iterator[Violation]:
    """Every node of the lab is registered with the API"""
    for name in context.nodes:
        if snapshot.node(name) is None:
            yield Violation(f"Node/{name}", "a registered Node", "none", node=name)


@RULES.rule(
    id="node-state.ready", source="https://kubernetes.io/docs/reference/node/node-status/#condition"
)
def ready(snapshot: ClusterSnapshot, context: ClusterContext) -> Iterator[Violation]:
    """Every node reports condition Ready=True"""
    for name, node in _nodes(snapshot, context.nodes):
        condition = _condition(node, "Ready")
        if condition.get("status") != "True":
            found = f"Ready={condition.get('status')} {condition.get('reason', '')}: "
            yield Violation(
                f"Node/{name}", "Ready=True", found + condition.get("message", ""), node=name
            )


@RULES.rule(id="node-state.control-plane-labels", source=MARK_CONTROL_PLANE)
def control_plane_labels(snapshot: ClusterSnapshot, context: ClusterContext) -> Iterator[Violation]:
    """Control-plane nodes carry the labels node-role.kubernetes.io/control-plane and
    node.kubernetes.io/exclude-from-external-load-balancers"""
    for name, node in _nodes(snapshot, context.control_planes):
        missing = [
            label for label in (CONTROL_PLANE_ROLE, EXCLUDE_FROM_LB) if label not in labels_of(node)
        ]
        if missing:
            yield Violation(f"Node/{name}", f"labels {CONTROL_PLANE_ROLE}, {EXCLUDE_FROM_LB}",
                            f"missing {', '.join(missing)}", node=name)  # fmt: skip


@RULES.rule(id="node-state.control-plane-taint", source=MARK_CONTROL_PLANE)
def control_plane_taint(snapshot: ClusterSnapshot, context: ClusterContext) -> Iterator[Violation]:
    """Control-plane nodes carry the taint node-role.kubernetes.io/control-plane:NoSchedule"""
    for name, node in _nodes(snapshot, context.control_planes):
        taints = _taints(node)
        if CONTROL_PLANE_TAINT not in taints:
            shown = ", ".join(f"{k}:{e}" for k, e in sorted(taints)) or "no taints"
            yield Violation(
                f"Node/{name}", f"taint {CONTROL_PLANE_ROLE}:NoSchedule", shown, node=name
            )


@RULES.rule(id="node-state.worker-role", source=MARK_CONTROL_PLANE)
def worker_role(snapshot: ClusterSnapshot, context: ClusterContext) -> Iterator[Violation]:
    """Workers carry neither the control-plane role label nor its taint"""
    for name, node in _nodes(snapshot, context.workers):
        if CONTROL_PLANE_ROLE in labels_of(node):
            yield Violation(
                f"Node/{name}", f"no {CONTROL_PLANE_ROLE} label", "the label", node=name
            )
        if CONTROL_PLANE_TAINT in _taints(node):
            yield Violation(f"Node/{name}", "no control-plane taint", "the taint", node=name)


def _ended_or_leaving(pod: Object) -> bool:
    phase = (pod.get("status") or {}).get("phase")
    return phase in ("Succeeded", "Failed") or bool(
        (pod.get("metadata") or {}).get("deletionTimestamp")
    )


@RULES.rule(id="node-state.coredns-ready", source=kubeadm_source("phases/addons/dns/manifests.go"))
def coredns_ready(snapshot: ClusterSnapshot, context: ClusterContext) -> Iterator[Violation]:
    """The CoreDNS pods (k8s-app=kube-dns) are Running and Ready"""
    # A pod that ended (an old replica after an upgrade or a drain) or is being deleted no
    # longer counts as a replica; it stays listed until the pod garbage collector runs.
    pods = [p for p in pods_with(snapshot, KUBE_DNS) if not _ended_or_leaving(p)]
    if not pods:
        yield Violation(
            object_path(KUBE_SYSTEM, "Pod", "coredns-*"), "Running CoreDNS pods", "none"
        )
    for pod in pods:
        phase = (pod.get("status") or {}).get("phase")
        ready_status = _condition(pod, "Ready").get("status")
        if phase != "Running" or ready_status != "True":
            node = (pod.get("spec") or {}).get("nodeName")
            yield Violation(object_path(KUBE_SYSTEM, "Pod", name_of(pod)), "Running, Ready=True",
                            f"{phase}, Ready={ready_status}", node=node)  # fmt: skip
