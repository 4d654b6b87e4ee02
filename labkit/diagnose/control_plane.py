"""When the API does not answer: what the control-plane node itself says."""

from __future__ import annotations

from collections.abc import Iterator

from labkit.diagnose.nodes import kubelet_failing_fix
from labkit.diagnose.rules import rule
from labkit.diagnose.snapshot import (
    Diagnosis,
    LabSnapshot,
    RuntimeContainer,
    kubelet_exit_error,
    node_subject,
    tail,
)

# In the order they depend on each other: the apiserver needs etcd.
CONTROL_PLANE_CONTAINERS = ("etcd", "kube-apiserver", "kube-controller-manager",
                            "kube-scheduler")
MANIFESTS = "/etc/kubernetes/manifests"


def newest(containers: tuple[RuntimeContainer, ...], name: str) -> RuntimeContainer | None:
    """The container the kubelet runs now for a static pod: its latest attempt."""
    mine = [c for c in containers if c.name == name]
    return max(mine, key=lambda c: (c.running, c.attempt)) if mine else None


def _cause(snapshot: LabSnapshot) -> tuple[str, str]:
    """(summary, fix) from what the control-plane node shows."""
    cp = snapshot.control_plane
    status = snapshot.containers.get(cp, "missing")

    def on_cp(command: str) -> str:
        return f"`labkit lab exec {snapshot.lab} {cp} -- {command}`"

    if status != "running":
        return (f"the control-plane node container is {status}",
                f"start it (`docker start {cp}`) or recreate the lab (see the node diagnosis)")
    if snapshot.control_plane_runtime is None:
        return ("the container runtime on the control plane does not answer `crictl ps`",
                f"check containerd: {on_cp('systemctl status containerd')} and "
                f"{on_cp('journalctl -u containerd -n 100')}")
    runtime = snapshot.control_plane_runtime
    kubelet_failed = kubelet_exit_error(snapshot.journal(cp, "kubelet"))
    for name in CONTROL_PLANE_CONTAINERS[:2]:
        current = newest(runtime, name)
        if current is None and kubelet_failed:
            return (f"the kubelet on the control plane fails to start, so it never started "
                    f"{name}: {kubelet_failed}", kubelet_failing_fix(snapshot, cp))
        if current is None:
            return (f"the kubelet has not started {name} on the control plane",
                    f"the kubelet starts it from {MANIFESTS}/{name}.yaml: check that file and "
                    f"the kubelet's account in {on_cp('journalctl -u kubelet -n 100')}")
        if not current.running:
            return (f"{name} is not running on the control plane ({current})",
                    f"its logs say why it exits: {on_cp(f'crictl logs {current.id[:13]}')}; "
                    f"its flags are in {MANIFESTS}/{name}.yaml")
    apiserver = newest(runtime, "kube-apiserver")
    assert apiserver is not None
    return ("etcd and kube-apiserver run, yet the API does not answer from the host",
            f"compare the published port (`docker port {cp} 6443`) with the server in the "
            f"lab's kubeconfig (`labkit lab kubeconfig {snapshot.lab}`), and read the "
            f"apiserver's logs: {on_cp(f'crictl logs {apiserver.id[:13]}')}")


@rule("control-plane")
def api_unreachable(snapshot: LabSnapshot) -> Iterator[Diagnosis]:
    if snapshot.api_error is None:
        return
    cp = snapshot.control_plane
    evidence = [f"API: {snapshot.api_error}",
                f"docker: {cp} is {snapshot.containers.get(cp, 'missing')}"]
    if snapshot.control_plane_runtime is not None:
        rows = [str(c) for c in snapshot.control_plane_runtime
                if c.name in CONTROL_PLANE_CONTAINERS]
        evidence.append("crictl ps -a (control plane):\n" + ("\n".join(rows) or "none of "
                        + ", ".join(CONTROL_PLANE_CONTAINERS)))
    elif snapshot.control_plane_runtime_error:
        evidence.append(f"crictl ps -a: {snapshot.control_plane_runtime_error}")
    kubelet = snapshot.journal(cp, "kubelet")
    if kubelet:
        evidence.append(f"journalctl -u kubelet (tail):\n{tail(kubelet)}")
    summary, fix = _cause(snapshot)
    yield Diagnosis("api.unreachable", f"the lab's API server does not answer: {summary}",
                    node_subject(cp), tuple(evidence), fix)
