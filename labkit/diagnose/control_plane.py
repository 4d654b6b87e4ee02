"""When the API does not answer: what the control-plane node itself says."""

from __future__ import annotations

from collections.abc import Iterator

from labkit.constants import (
    CONTROL_PLANE,
    KUBEADM_CONFIG,
    KUBELET_CONFIG,
)
from labkit.diagnose.nodes import kubelet_failing_fix
from labkit.diagnose.rules import RuleSet
from labkit.diagnose.snapshot import (
    Diagnosis,
    LabSnapshot,
    kubelet_exit_error,
    kubelet_unit_state,
    node_subject,
    tail,
)
from labkit.kubeadm.config import CONTROL_PLANE_COMPONENTS
from labkit.lab import problems
from labkit.lab.runtime import newest

RULES = RuleSet(CONTROL_PLANE)


def _cause(snapshot: LabSnapshot) -> tuple[str, str]:
    """(summary, fix) from what the control-plane node shows."""
    cp = snapshot.control_plane
    status = snapshot.containers.get(cp, "missing")
    if status != "running":
        stopped = problems.container_stopped(snapshot.lab, cp, status)
        return stopped.problem, stopped.fix
    if snapshot.control_plane_runtime is None:
        return (
            "the container runtime on the control plane does not answer `crictl ps`",
            "check containerd: "
            + problems.on_node(snapshot.lab, cp, "systemctl status containerd")
            + " and "
            + problems.on_node(snapshot.lab, cp, "journalctl -u containerd -n 100"),
        )
    kubelet_failed = kubelet_exit_error(snapshot.journal(cp, "kubelet"))
    return problems.api_components_problem(
        snapshot.lab,
        cp,
        snapshot.control_plane_runtime,
        kubelet_failed=(kubelet_failed, kubelet_failing_fix(snapshot, cp))
        if kubelet_failed
        else None,
    )


def never_initialized(snapshot: LabSnapshot) -> bool:
    """kubeadm init has not got as far as configuring the kubelet: systemd skips the unit,
    and the runtime runs no control-plane component."""
    cp = snapshot.control_plane
    runtime = snapshot.control_plane_runtime
    return (
        runtime is not None
        and kubelet_unit_state(snapshot.journal(cp, "kubelet")) == "not configured"
        and not any(newest(runtime, name) for name in CONTROL_PLANE_COMPONENTS)
    )


def load_balancer_down(snapshot: LabSnapshot) -> Diagnosis | None:
    """The host reaches several control planes only through the load balancer."""
    name, status = snapshot.load_balancer, snapshot.load_balancer_status
    if name is None or status == "running":
        return None
    return Diagnosis(
        "api.load-balancer-stopped",
        f"the lab's API does not answer from the host: its load balancer {name} is {status}, "
        "and the host kubeconfig goes through it (the control planes may well run)",
        f"container/{name}",
        (f"API: {snapshot.api_error}", f"docker: {name} is {status}"),
        f"start it: `labkit lab start {snapshot.lab}` (or `docker start {name}`); "
        f"`docker logs {name}` shows haproxy's account if it stops again",
    )


def quorum_lost(snapshot: LabSnapshot) -> Diagnosis | None:
    """etcd, one member per control plane, serves nothing without a majority of them."""
    status = {cp: snapshot.containers.get(cp, "missing") for cp in snapshot.control_planes}
    lost = problems.quorum_lost(snapshot.lab, status)
    if lost is None:
        return None
    return Diagnosis(
        "etcd.quorum-lost",
        lost.problem,
        f"etcd/{snapshot.lab}",
        (f"API: {snapshot.api_error}", *(f"docker: {cp} is {s}" for cp, s in status.items())),
        lost.fix,
    )


@RULES.rule()
def api_unreachable(snapshot: LabSnapshot) -> Iterator[Diagnosis]:
    if snapshot.api_error is None:
        return
    cp = snapshot.control_plane
    cause = load_balancer_down(snapshot) or quorum_lost(snapshot)
    if cause:
        yield cause
        return
    if never_initialized(snapshot):
        yield _not_initialized(snapshot)
        return
    evidence = [
        f"API: {snapshot.api_error}",
        f"docker: {cp} is {snapshot.containers.get(cp, 'missing')}",
    ]
    if snapshot.control_plane_runtime is not None:
        rows = [
            str(c) for c in snapshot.control_plane_runtime if c.name in CONTROL_PLANE_COMPONENTS
        ]
        evidence.append(
            "crictl ps -a (control plane):\n"
            + ("\n".join(rows) or "none of " + ", ".join(CONTROL_PLANE_COMPONENTS))
        )
    elif snapshot.control_plane_runtime_error:
        evidence.append(f"crictl ps -a: {snapshot.control_plane_runtime_error}")
    kubelet = snapshot.journal(cp, "kubelet")
    if kubelet:
        evidence.append(f"journalctl -u kubelet (tail):\n{tail(kubelet)}")
    summary, fix = _cause(snapshot)
    yield Diagnosis(
        "api.unreachable",
        f"the lab's API server does not answer: {summary}",
        node_subject(cp),
        tuple(evidence),
        fix,
    )


def _not_initialized(snapshot: LabSnapshot) -> Diagnosis:
    cp = snapshot.control_plane
    kubelet = tail(snapshot.journal(cp, "kubelet"), 3)
    preflight = f"kubeadm init phase preflight --config {KUBEADM_CONFIG}"
    return Diagnosis(
        "api.not-initialized",
        f"kubeadm init has not completed on {cp}: the kubelet has no "
        f"configuration ({KUBELET_CONFIG}), so systemd does not start it and no "
        "control-plane component runs",
        node_subject(cp),
        (
            f"API: {snapshot.api_error}",
            f"crictl ps -a (control plane): none of {', '.join(CONTROL_PLANE_COMPONENTS)}",
            f"journalctl -u kubelet (tail):\n{kubelet}",
        ),
        "kubeadm refused its configuration or a preflight check failed: `labkit lab up` "
        "shows kubeadm's output in the failed `kubeadm init` step, and "
        f"`labkit lab exec {snapshot.lab} {cp} -- {preflight}` repeats the checks; fix the "
        f"lab spec (or the node), then `labkit lab down {snapshot.lab}` and `labkit lab up`",
    )
