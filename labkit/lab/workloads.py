"""Small workloads that scenarios (and users) run in a lab: probe pods from the toolbox."""

from __future__ import annotations

from kubernetes import client as k8s

from labkit.constants import KUBECTL_ON_NODE
from labkit.errors import StepFailed
from labkit.lab import waits
from labkit.lab.model import LabModel
from labkit.lab.node import ExecResult
from labkit.versions import TOOLBOX_IMAGE


def probe_pod(name: str, node: str, command: list[str], namespace: str = "default") -> k8s.V1Pod:
    """A pod pinned to `node` running the preloaded toolbox image (never pulled)."""
    return k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(
            name=name,
            namespace=namespace,
            labels={"app.kubernetes.io/managed-by": "labkit", "labkit/probe": name},
        ),
        spec=k8s.V1PodSpec(
            node_name=node,
            termination_grace_period_seconds=0,
            containers=[
                k8s.V1Container(
                    name="probe",
                    image=TOOLBOX_IMAGE,
                    image_pull_policy="IfNotPresent",
                    command=command,
                )
            ],
        ),
    )


def run_probe_pods(lab: LabModel, pods: list[k8s.V1Pod], timeout: float = 120) -> list[k8s.V1Pod]:
    """Create the pods and wait (on a watch) until all are Running and Ready."""
    api = lab.api_client()
    core = k8s.CoreV1Api(api)
    for pod in pods:
        core.create_namespaced_pod(pod.metadata.namespace, pod)
    namespace = pods[0].metadata.namespace
    if not waits.pods_ready(
        api, namespace, "app.kubernetes.io/managed-by=labkit", len(pods), timeout
    ):
        from labkit.lab.evidence import cluster_evidence

        raise StepFailed(
            operation="run probe pods",
            reason=f"probe pods not Ready in {timeout:.0f}s",
            evidence=cluster_evidence(api),
        )
    return [core.read_namespaced_pod(p.metadata.name, namespace) for p in pods]


def delete_probe_pods(lab: LabModel, pods: list[k8s.V1Pod]) -> None:
    core = k8s.CoreV1Api(lab.api_client())
    for pod in pods:
        core.delete_namespaced_pod(
            pod.metadata.name, pod.metadata.namespace, grace_period_seconds=0
        )


def exec_in_pod(
    lab: LabModel, pod: str, command: list[str], namespace: str = "default", timeout: float = 60
) -> ExecResult:
    """`kubectl exec` from the control plane: the same path an operator's kubectl takes."""
    return lab.running_control_plane().exec(
        [*KUBECTL_ON_NODE, "exec", "-n", namespace, pod, "--", *command],
        check=False,
        timeout=timeout,
    )


def kubectl(lab: LabModel, *args: str, timeout: float = 60) -> ExecResult:
    return lab.running_control_plane().exec([*KUBECTL_ON_NODE, *args], check=False, timeout=timeout)
