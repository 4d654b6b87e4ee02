"""kubernetes-client objects as a lab's API returns them, for diagnosis tests.

The defaults describe a healthy two-node lab (`lab-control-plane`, `lab-worker`); each
builder takes the fields a broken state changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kubernetes import client as k8s

from labkit.diagnose.snapshot import LabSnapshot

LAB = "lab"
CP = "lab-control-plane"
WORKER = "lab-worker"
CP_TAINT = k8s.V1Taint(key="node-role.kubernetes.io/control-plane", effect="NoSchedule")
NOT_READY_TAINT = k8s.V1Taint(key="node.kubernetes.io/not-ready", effect="NoSchedule")
NO_CNI_MESSAGE = (
    "container runtime network not ready: NetworkReady=false "
    "reason:NetworkPluginNotReady message:Network plugin returns error: "
    "cni plugin not initialized"
)


def node(
    name: str,
    status: str = "True",
    reason: str = "KubeletReady",
    message: str = "kubelet is posting ready status",
    taints: Sequence[k8s.V1Taint] = (),
    conditions: Sequence[k8s.V1NodeCondition] = (),
) -> k8s.V1Node:
    ready = k8s.V1NodeCondition(type="Ready", status=status, reason=reason, message=message)
    return k8s.V1Node(
        metadata=k8s.V1ObjectMeta(name=name),
        spec=k8s.V1NodeSpec(taints=list(taints) or None),
        status=k8s.V1NodeStatus(conditions=[*conditions, ready]),
    )


def healthy_nodes() -> list[k8s.V1Node]:
    return [node(CP, taints=[CP_TAINT]), node(WORKER)]


def waiting(reason: str, message: str = "") -> k8s.V1ContainerState:
    return k8s.V1ContainerState(
        waiting=k8s.V1ContainerStateWaiting(reason=reason, message=message or None)
    )


def running() -> k8s.V1ContainerState:
    return k8s.V1ContainerState(running=k8s.V1ContainerStateRunning())


def status(
    name: str = "app",
    image: str = "example.com/app:1.0",
    state: k8s.V1ContainerState | None = None,
    ready: bool = True,
    restarts: int = 0,
    last: k8s.V1ContainerState | None = None,
) -> k8s.V1ContainerStatus:
    return k8s.V1ContainerStatus(
        name=name,
        image=image,
        image_id="",
        ready=ready,
        restart_count=restarts,
        state=state or running(),
        last_state=last,
    )


def pod(
    name: str,
    namespace: str = "default",
    node_name: str | None = WORKER,
    phase: str = "Running",
    statuses: Sequence[k8s.V1ContainerStatus] | None = None,
    init_statuses: Sequence[k8s.V1ContainerStatus] = (),
    conditions: Sequence[k8s.V1PodCondition] = (),
    containers: Sequence[k8s.V1Container] | None = None,
    **status_fields: Any,
) -> k8s.V1Pod:
    statuses = [status()] if statuses is None else list(statuses)
    containers = (
        containers
        or [
            k8s.V1Container(name=s.name, image=s.image, image_pull_policy="IfNotPresent")
            for s in statuses
        ]
        or [k8s.V1Container(name="app", image="x")]
    )
    init = [k8s.V1Container(name=s.name, image=s.image) for s in init_statuses]
    return k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(name=name, namespace=namespace),
        spec=k8s.V1PodSpec(
            node_name=node_name, containers=list(containers), init_containers=init or None
        ),
        status=k8s.V1PodStatus(
            phase=phase,
            container_statuses=statuses or None,
            init_container_statuses=list(init_statuses) or None,
            conditions=list(conditions) or None,
            **status_fields,
        ),
    )


def pending(name: str, message: str, namespace: str = "default") -> k8s.V1Pod:
    scheduled = k8s.V1PodCondition(
        type="PodScheduled", status="False", reason="Unschedulable", message=message
    )
    return pod(
        name, namespace, node_name=None, phase="Pending", statuses=[], conditions=[scheduled]
    )


def event(
    pod_name: str, reason: str, message: str, namespace: str = "default", kind: str = "Warning"
) -> k8s.CoreV1Event:
    return k8s.CoreV1Event(
        metadata=k8s.V1ObjectMeta(name=f"{pod_name}.{reason}"),
        type=kind,
        reason=reason,
        message=message,
        involved_object=k8s.V1ObjectReference(kind="Pod", name=pod_name, namespace=namespace),
    )


def healthy_pods() -> list[k8s.V1Pod]:
    return [
        pod("coredns-1", "kube-system", CP, statuses=[status("coredns")]),
        pod("kube-flannel-ds-a", "kube-flannel", CP, statuses=[status("kube-flannel")]),
        pod("kube-flannel-ds-b", "kube-flannel", WORKER, statuses=[status("kube-flannel")]),
        pod(
            "job-done",
            phase="Succeeded",
            statuses=[
                status(
                    state=k8s.V1ContainerState(
                        terminated=k8s.V1ContainerStateTerminated(exit_code=0, reason="Completed")
                    ),
                    ready=False,
                )
            ],
        ),
    ]


def snapshot(
    nodes: Sequence[k8s.V1Node] | None = None,
    pods: Sequence[k8s.V1Pod] | None = None,
    events: Sequence[k8s.CoreV1Event] = (),
    **fields: Any,
) -> LabSnapshot:
    fields.setdefault("containers", {CP: "running", WORKER: "running"})
    return LabSnapshot(
        lab=LAB,
        control_plane=CP,
        nodes=tuple(healthy_nodes() if nodes is None else nodes),
        pods=tuple(healthy_pods() if pods is None else pods),
        events=tuple(events),
        **fields,
    )
