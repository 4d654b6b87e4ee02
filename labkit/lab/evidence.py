"""What a failed step carries: the node's own account of what went wrong."""

from __future__ import annotations

from collections.abc import Sequence

from kubernetes import client as k8s

from labkit.errors import StepFailed
from labkit.lab.node import ExecFailed, Node


def node_evidence(node: Node, lines: int = 40) -> dict[str, str]:
    """kubelet and containerd journal tails of one node; never raises."""
    evidence = {}
    for unit in ("kubelet", "containerd"):
        try:
            evidence[f"{node.name}: journalctl -u {unit} (tail)"] = node.journal(unit, lines)
        except Exception as error:
            evidence[f"{node.name}: journalctl -u {unit}"] = f"unavailable: {error}"
    return evidence


def kubeadm_failed(node: Node, operation: str, failure: ExecFailed) -> StepFailed:
    """A kubeadm run that exited non-zero: its output's tail and the node's journals."""
    output = failure.result.stdout + failure.result.stderr
    return StepFailed(
        operation=operation,
        node=node.name,
        reason=f"kubeadm exited {failure.result.exit_code}",
        evidence={"kubeadm output (tail)": output[-6000:], **node_evidence(node)},
    )


def kubectl_failed(
    node: Node, args: Sequence[str], failure: ExecFailed, api: k8s.ApiClient
) -> StepFailed:
    """A kubectl run that exited non-zero: its output and the cluster's evidence."""
    return StepFailed(
        operation=f"kubectl {' '.join(args[:2])}",
        node=node.name,
        reason=f"kubectl exited {failure.result.exit_code}",
        evidence={
            "kubectl output": failure.result.stdout + failure.result.stderr,
            **cluster_evidence(api),
        },
    )


def cluster_evidence(api: k8s.ApiClient, limit: int = 25) -> dict[str, str]:
    """Waiting reasons of pods that are not running, node conditions, recent events."""
    core = k8s.CoreV1Api(api)
    evidence = {}
    try:
        evidence["pods not running"] = "\n".join(pod_problems(core)) or "none"
        evidence["node conditions"] = "\n".join(node_conditions(core))
        events = sorted(
            core.list_event_for_all_namespaces().items,
            key=lambda e: str(e.last_timestamp or e.event_time or ""),
        )[-limit:]
        evidence["recent events"] = "\n".join(
            f"{e.type} {e.involved_object.kind}/{e.involved_object.name} {e.reason}: "
            f"{(e.message or '').strip()}"
            for e in events
        )
    except Exception as error:
        evidence["cluster"] = f"API unavailable: {error}"
    return evidence


def pod_problems(core: k8s.CoreV1Api) -> list[str]:
    problems = []
    for pod in core.list_pod_for_all_namespaces().items:
        where = f"{pod.metadata.namespace}/{pod.metadata.name} on {pod.spec.node_name or '-'}"
        if pod.status.phase == "Pending" and not pod.status.container_statuses:
            reason = next(
                (
                    f"{c.reason}: {c.message}"
                    for c in pod.status.conditions or []
                    if c.status == "False" and c.reason
                ),
                "no container status yet",
            )
            problems.append(f"{where}: Pending ({reason})")
        for status in [
            *(pod.status.init_container_statuses or []),
            *(pod.status.container_statuses or []),
        ]:
            waiting = status.state.waiting if status.state else None
            if waiting and waiting.reason not in (None, "PodInitializing"):
                problems.append(f"{where} {status.name}: {waiting.reason}: {waiting.message or ''}")
    return problems


def node_conditions(core: k8s.CoreV1Api) -> list[str]:
    lines = []
    for node in core.list_node().items:
        ready = next((c for c in node.status.conditions or [] if c.type == "Ready"), None)
        state = f"Ready={ready.status} {ready.reason}: {ready.message}" if ready else "no Ready"
        taints = ",".join(f"{t.key}:{t.effect}" for t in node.spec.taints or [])
        lines.append(f"{node.metadata.name}: {state} taints=[{taints}]")
    return lines
