"""Where a bring-up's wait goes: the cluster's own timestamps, relative to the start.

After a lab (labkit or kind) is up, the API server still holds when each node became
Ready, when each kube-system pod was created, scheduled, started and became Ready, and how
often its containers restarted (and why). That splits "wait until Ready" into its causes
without instrumenting the nodes. The API's timestamps have one-second resolution.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from kubernetes import client as k8s

SYSTEM_NAMESPACES = ("kube-system", "kube-flannel")
POD_CONDITIONS = ("PodScheduled", "Initialized", "ContainersReady", "Ready")


@dataclass(frozen=True)
class Mark:
    """One moment in the bring-up: seconds after its start, what happened, to what."""

    seconds: float
    what: str
    subject: str


@dataclass(frozen=True)
class Restart:
    pod: str
    container: str
    count: int
    last_reason: str
    last_message: str


@dataclass
class Timeline:
    marks: list[Mark] = field(default_factory=list)
    restarts: list[Restart] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "marks": [asdict(m) for m in sorted(self.marks, key=lambda m: m.seconds)],
            "restarts": [asdict(r) for r in self.restarts],
        }

    def text(self) -> str:
        lines = [
            f"{m.seconds:7.1f}s  {m.what:<22} {m.subject}"
            for m in sorted(self.marks, key=lambda m: m.seconds)
        ]
        lines += [
            f"restarts: {r.pod}/{r.container} x{r.count} ({r.last_reason}: {r.last_message[:160]})"
            for r in self.restarts
        ]
        return "\n".join(lines)


def collect(api: k8s.ApiClient, started: datetime) -> Timeline:
    """Node and system-pod milestones of the cluster behind `api`, relative to `started`
    (an aware datetime: the wall-clock moment the bring-up began)."""
    core = k8s.CoreV1Api(api)
    timeline = Timeline()

    def mark(moment: datetime | None, what: str, subject: str) -> None:
        if moment is not None:
            timeline.marks.append(Mark(round((moment - started).total_seconds(), 1), what, subject))

    for node in core.list_node().items:
        mark(node.metadata.creation_timestamp, "node registered", node.metadata.name)
        for condition in node.status.conditions or []:
            if condition.type == "Ready" and condition.status == "True":
                mark(condition.last_transition_time, "node Ready", node.metadata.name)
    for namespace in SYSTEM_NAMESPACES:
        for pod in core.list_namespaced_pod(namespace).items:
            _pod_marks(pod, mark)
            timeline.restarts += _restarts(pod)
    return timeline


def _pod_marks(pod: k8s.V1Pod, mark) -> None:
    name = pod.metadata.name
    mark(pod.metadata.creation_timestamp, "pod created", name)
    for condition in pod.status.conditions or []:
        if condition.type in POD_CONDITIONS and condition.status == "True":
            mark(condition.last_transition_time, f"pod {condition.type}", name)
    for status in pod.status.container_statuses or []:
        running = status.state.running if status.state else None
        if running is not None:
            mark(running.started_at, "container started", f"{name}/{status.name}")


def _restarts(pod: k8s.V1Pod) -> list[Restart]:
    restarts = []
    for status in pod.status.container_statuses or []:
        if not status.restart_count:
            continue
        terminated = status.last_state.terminated if status.last_state else None
        restarts.append(
            Restart(
                pod.metadata.name,
                status.name,
                status.restart_count,
                terminated.reason if terminated else "",
                (terminated.message or "").strip() if terminated else "",
            )
        )
    return restarts
