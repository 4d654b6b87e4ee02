"""Why a pod stays Pending unscheduled: what the scheduler's message says, in plain words.

The scheduler sums up each node's reason in the PodScheduled condition (and the
FailedScheduling event): "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) had
untolerated taint {node-role.kubernetes.io/control-plane: }". Each reason is a table row.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from kubernetes import client as k8s

from labkit.diagnose.rules import RuleSet
from labkit.diagnose.snapshot import Diagnosis, LabSnapshot, describe_condition, pod_subject

RULES = RuleSet("pods")

# Since 1.25 "had untolerated taint {key: value}"; before, "had taint {key: value}, that the
# pod didn't tolerate". Either way the key is in braces.
TAINT_IN_MESSAGE = re.compile(r"taints?\s*\{(?P<key>[^:{}]+):")
CONTROL_PLANE_TAINT = "node-role.kubernetes.io/control-plane"


@dataclass(frozen=True)
class TaintCause:
    key: str
    why: str
    fix: str


TAINT_CAUSES = {
    t.key: t
    for t in (
        TaintCause(
            "node.kubernetes.io/not-ready",
            "the node is not Ready, and the node controller taints it until it is",
            "make the node Ready (see its diagnosis; without a CNI no node is); the taint "
            "then goes away by itself",
        ),
        TaintCause(
            "node.kubernetes.io/unreachable",
            "the node's kubelet stopped reporting, so the node controller tainted it",
            "bring the node's kubelet back (see its diagnosis)",
        ),
        TaintCause(
            CONTROL_PLANE_TAINT,
            "kubeadm taints control-plane nodes so that ordinary pods run on workers",
            "add workers (`workers:` in the lab spec), give the pod a toleration for it, or "
            "on a single-node lab remove it: "
            f"`kubectl taint nodes --all {CONTROL_PLANE_TAINT}-`",
        ),
        TaintCause(
            "node.kubernetes.io/unschedulable", "the node is cordoned", "`kubectl uncordon NODE`"
        ),
        TaintCause(
            "node.kubernetes.io/disk-pressure",
            "the node is short of disk",
            "free disk (see the node's diagnosis)",
        ),
        TaintCause(
            "node.kubernetes.io/memory-pressure",
            "the node is short of memory",
            "free memory (see the node's diagnosis)",
        ),
        TaintCause(
            "node.kubernetes.io/pid-pressure",
            "the node is short of process ids",
            "see the node's diagnosis",
        ),
        TaintCause(
            "node.cloudprovider.kubernetes.io/uninitialized",
            "the kubelet runs with an external cloud provider that no controller initialised",
            "a lab has no cloud controller: drop `cloud-provider: external` from the kubelet",
        ),
    )
}


@dataclass(frozen=True)
class SchedulingCause:
    pattern: re.Pattern[str]
    why: str
    fix: str


SCHEDULING_CAUSES = (
    SchedulingCause(
        re.compile(r"Insufficient (?P<resource>[\w./-]+)"),
        "no node has enough allocatable {resource} left for the pod's requests",
        "lower the pod's requests or add workers; `kubectl describe nodes` shows "
        "what is allocated (a lab's nodes share the host's CPUs and memory)",
    ),
    SchedulingCause(
        re.compile(r"didn't match Pod's node affinity/selector"),
        "no node carries the labels the pod's nodeSelector or affinity asks for",
        "compare them with `kubectl get nodes --show-labels`",
    ),
    SchedulingCause(
        re.compile(r"didn't match pod (anti-)?affinity rules"),
        "the pod's (anti-)affinity to other pods rules every node out",
        "relax the rule or add workers",
    ),
    SchedulingCause(
        re.compile(
            r"unbound immediate PersistentVolumeClaims|"
            r"persistentvolumeclaim \S+ not found",
            re.IGNORECASE,
        ),
        "its PersistentVolumeClaim is not bound",
        "a lab has no storage provisioner: create a PersistentVolume for the claim "
        "or install one (e.g. local-path-provisioner)",
    ),
    SchedulingCause(
        re.compile(r"didn't have free ports"),
        "the hostPort it asks for is taken on every node",
        "pick another hostPort or add workers",
    ),
    SchedulingCause(
        re.compile(r"were unschedulable"), "the nodes are cordoned", "`kubectl uncordon NODE`"
    ),
    SchedulingCause(
        re.compile(r"no nodes available to schedule pods"),
        "no node is registered",
        "see the node diagnoses",
    ),
)


def _scheduling_message(snapshot: LabSnapshot, pod: k8s.V1Pod) -> tuple[str, list[str]]:
    condition = (
        next((c for c in (pod.status.conditions or []) if c.type == "PodScheduled"), None)
        if pod.status
        else None
    )
    events = [
        e
        for e in snapshot.events_about("Pod", pod.metadata.namespace, pod.metadata.name)
        if e.reason == "FailedScheduling"
    ]
    if condition is not None and condition.status == "False" and condition.message:
        return condition.message, [describe_condition(condition)]
    if events:
        return events[-1].message or "", [f"event FailedScheduling: {events[-1].message}"]
    return "", []


def tolerates(pod: k8s.V1Pod | None, taint: k8s.V1Taint) -> bool:
    """Whether one of the pod's tolerations matches the taint, as the scheduler decides it
    (k8s.io/api core/v1 Toleration.ToleratesTaint)."""
    tolerations = (pod.spec.tolerations or []) if pod is not None and pod.spec else []
    for toleration in tolerations:
        if toleration.effect and toleration.effect != taint.effect:
            continue
        if not toleration.key:
            if toleration.operator == "Exists":  # an empty key with Exists tolerates all
                return True
            continue
        if toleration.key != taint.key:
            continue
        if toleration.operator == "Exists" or (toleration.value or "") == (taint.value or ""):
            return True
    return False


def _taint_keys(snapshot: LabSnapshot, message: str, pod: k8s.V1Pod | None) -> list[str]:
    keys = [m["key"].strip() for m in TAINT_IN_MESSAGE.finditer(message)]
    if keys or "taint" not in message:
        return list(dict.fromkeys(keys))
    # kube-scheduler 1.34 says "had untolerated taint(s)" without naming them: take the
    # nodes' own taints that keep pods off, less those this pod tolerates (CoreDNS
    # tolerates the control-plane taint, and blaming it would send the user astray).
    return list(
        dict.fromkeys(
            t.key
            for n in snapshot.nodes
            for t in (n.spec.taints or [])
            if n.spec and t.effect in ("NoSchedule", "NoExecute") and not tolerates(pod, t)
        )
    )


def explain(
    snapshot: LabSnapshot, message: str, pod: k8s.V1Pod | None = None
) -> tuple[list[str], list[str]]:
    """Each reason in a scheduler message about `pod` as (why, fix) lines."""
    whys, fixes = [], []
    for key in _taint_keys(snapshot, message, pod):
        cause = TAINT_CAUSES.get(key)
        whys.append(
            f"taint {key}: " + (cause.why if cause else "a taint the pod does not tolerate")
        )
        fixes.append(
            cause.fix
            if cause
            else f"tolerate {key} or remove it (`kubectl taint nodes NODE {key}-`)"
        )
    for cause in SCHEDULING_CAUSES:
        match = cause.pattern.search(message)
        if match:
            whys.append(cause.why.format(**match.groupdict()))
            fixes.append(cause.fix)
    return whys, fixes


@RULES.rule()
def unschedulable(snapshot: LabSnapshot) -> Iterator[Diagnosis]:
    for pod in snapshot.pods:
        if pod.status is None or pod.status.phase != "Pending" or (pod.spec and pod.spec.node_name):
            continue
        message, evidence = _scheduling_message(snapshot, pod)
        if not message:
            continue  # not yet tried, or scheduling gates: nothing says it failed
        whys, fixes = explain(snapshot, message, pod)
        summary = "; ".join(whys) or "the scheduler found no node for it (see the message)"
        yield Diagnosis(
            "pod.unschedulable",
            f"pod {pod.metadata.name} is Pending, not scheduled: {summary}",
            pod_subject(pod),
            tuple(evidence),
            "; ".join(dict.fromkeys(fixes)) or "read the scheduler's message above",
        )
