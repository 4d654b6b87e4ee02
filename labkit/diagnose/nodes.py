"""Why a node is unwell: its container stopped, its kubelet exits or stopped posting status,
no CNI config, resource pressure, or it never registered."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from kubernetes import client as k8s

from labkit.constants import ADMIN_CONF, CNI_MANIFEST, KUBELET_CONFIG, KUBELET_FLAGS_ENV
from labkit.diagnose.rules import RuleSet
from labkit.diagnose.snapshot import (
    JOURNAL_UNITS,
    Diagnosis,
    LabSnapshot,
    describe_condition,
    describe_taints,
    is_failing,
    is_ready,
    kubelet_exit_error,
    kubelet_unit_state,
    node_condition,
    node_subject,
    tail,
)
from labkit.lab import problems

RULES = RuleSet("nodes")

# The Ready message when containerd has no CNI config, and what kubelet (dockershim era)
# and containerd write to their journals in the same state.
NO_CNI_MESSAGE = re.compile(r"NetworkPluginNotReady|cni plugin not initialized")
NO_CNI_JOURNAL = re.compile(
    r"no network(s| config) found in /etc/cni/net\.d|"
    r"cni plugin not initialized",
    re.IGNORECASE,
)
KUBELET_STOPPED = re.compile(r"Kubelet stopped posting node status", re.IGNORECASE)
# Pods of the CNIs a lab may run; the one on a node writes that node's CNI config.
CNI_POD_NAMES = ("flannel", "calico", "cilium", "weave", "kindnet", "antrea")


def _exec(snapshot: LabSnapshot, node: str, command: str) -> str:
    return f"`labkit lab exec {snapshot.lab} {node} -- {command}`"


def _journal_lines(
    snapshot: LabSnapshot, node: str, pattern: re.Pattern[str], limit: int = 3
) -> list[str]:
    lines = [
        f"{unit}: {line.strip()}"
        for unit in JOURNAL_UNITS
        for line in snapshot.journal(node, unit).splitlines()
        if pattern.search(line)
    ]
    return lines[-limit:]


def _ready_with_status(
    snapshot: LabSnapshot, status: str
) -> Iterator[tuple[k8s.V1Node, str, k8s.V1NodeCondition]]:
    """Each node whose Ready condition is `status`, with its name and that condition."""
    for node in snapshot.nodes:
        ready = node_condition(node, "Ready")
        if ready is not None and ready.status == status:
            yield node, node.metadata.name, ready


@RULES.rule()
def container_stopped(snapshot: LabSnapshot) -> Iterator[Diagnosis]:
    for name, status in sorted(snapshot.containers.items()):
        if status == "running":
            continue
        console = snapshot.consoles.get(name, "")
        evidence = [f"docker: container {name} is {status}"]
        if console:
            evidence.append(f"docker logs {name} (tail):\n{tail(console, 15)}")
        stopped = problems.container_stopped(snapshot.lab, name, status)
        yield Diagnosis(
            "node.container-stopped",
            stopped.problem,
            node_subject(name),
            tuple(evidence),
            f"{stopped.fix}. If it stops again, systemd in it exited: recreate the lab "
            f"(`labkit lab down {snapshot.lab}` and `labkit lab up`).",
        )


def _cni_pods(snapshot: LabSnapshot) -> list[k8s.V1Pod]:
    return [p for p in snapshot.pods if any(n in p.metadata.name for n in CNI_POD_NAMES)]


def _no_cni_fix(snapshot: LabSnapshot, node: str) -> str:
    cni_pods = _cni_pods(snapshot)
    on_node = [p for p in cni_pods if p.spec and p.spec.node_name == node]
    failing = [p for p in on_node if is_failing(p)]
    if failing:
        pod = failing[0]
        return (
            f"the CNI's pod on this node, {pod.metadata.namespace}/{pod.metadata.name}, is "
            "not running, and it is what writes /etc/cni/net.d: fix it (see its diagnosis, "
            "and `kubectl logs` of it)"
        )
    if cni_pods:
        return (
            "a CNI is installed but its config has not reached this node yet: check its "
            "DaemonSet has a running pod here (`kubectl get pods -A -o wide`) and its logs"
        )
    return (
        "install a CNI. `labkit lab up` installs flannel unless the spec says `cni: none`; "
        "for this lab apply the node image's manifest with the pod subnet filled in: "
        + _exec(
            snapshot,
            snapshot.control_plane,
            f"sh -c \"sed 's|{{{{ .PodSubnet }}}}|{snapshot.pod_subnet}|' {CNI_MANIFEST}"
            f' | kubectl --kubeconfig {ADMIN_CONF} apply -f -"',
        )
        + " (or `kubectl apply -f` another CNI's manifest)"
    )


@RULES.rule()
def no_cni(snapshot: LabSnapshot) -> Iterator[Diagnosis]:
    for node, name, ready in _ready_with_status(snapshot, "False"):
        journal = _journal_lines(snapshot, name, NO_CNI_JOURNAL)
        if not NO_CNI_MESSAGE.search(ready.message or "") and not journal:
            continue
        yield Diagnosis(
            "node.no-cni",
            f"node {name} is NotReady: the container runtime has no CNI network "
            "config in /etc/cni/net.d",
            node_subject(name),
            (describe_condition(ready), describe_taints(node), *journal),
            _no_cni_fix(snapshot, name),
        )


KUBELET_FILES = f"{KUBELET_CONFIG} and {KUBELET_FLAGS_ENV}"


def kubelet_failing_fix(snapshot: LabSnapshot, node: str) -> str:
    return (
        f"the kubelet exits at start and systemd keeps restarting it; the error names what "
        f"it rejects (its configuration in {KUBELET_FILES}, cgroups, certificates): "
        f"{_exec(snapshot, node, 'systemctl status kubelet')} and "
        f"{_exec(snapshot, node, 'journalctl -u kubelet -n 100')}"
    )


@RULES.rule()
def kubelet_failing(snapshot: LabSnapshot) -> Iterator[Diagnosis]:
    for name in sorted(snapshot.journals):
        error = kubelet_exit_error(snapshot.journal(name, "kubelet"))
        if error is None or (snapshot.api_error and name == snapshot.control_plane):
            continue  # without the API, api_unreachable tells the control plane's story
        yield Diagnosis(
            "node.kubelet-failing",
            f"the kubelet on {name} fails to start: {error}",
            node_subject(name),
            (f"journalctl -u kubelet (tail):\n{tail(snapshot.journal(name, 'kubelet'))}",),
            kubelet_failing_fix(snapshot, name),
        )


@RULES.rule()
def kubelet_stopped(snapshot: LabSnapshot) -> Iterator[Diagnosis]:
    for _, name, ready in _ready_with_status(snapshot, "Unknown"):
        if ready.reason != "NodeStatusUnknown" and not KUBELET_STOPPED.search(ready.message or ""):
            continue
        if snapshot.containers.get(name, "running") != "running":
            continue  # container_stopped names the cause
        if kubelet_exit_error(snapshot.journal(name, "kubelet")):
            continue  # kubelet_failing names the cause
        journal = snapshot.journal(name, "kubelet")
        heartbeat = (
            f"last heartbeat: {ready.last_heartbeat_time}"
            if ready.last_heartbeat_time
            else "no heartbeat time"
        )
        # Without the journal's word the kubelet may as well run but not reach the API.
        why = (
            " (systemd shows the kubelet stopped)"
            if kubelet_unit_state(journal) == "stopped"
            else ""
        )
        yield Diagnosis(
            "node.kubelet-stopped",
            f"node {name} is NotReady: its kubelet stopped posting node status{why}",
            node_subject(name),
            (
                describe_condition(ready),
                heartbeat,
                f"journalctl -u kubelet (tail):\n{tail(journal) or '(empty)'}",
            ),
            f"see whether the kubelet runs: {_exec(snapshot, name, 'systemctl status kubelet')}"
            f"; restart it with {_exec(snapshot, name, 'systemctl restart kubelet')} and read "
            f"why it stopped in {_exec(snapshot, name, 'journalctl -u kubelet -n 100')}",
        )


@dataclass(frozen=True)
class PressureCause:
    condition: str
    cause_id: str
    why: str
    fix: str


# Conditions the kubelet sets True when it starts evicting pods.
PRESSURE_CAUSES = (
    PressureCause(
        "DiskPressure",
        "node.disk-pressure",
        "the node's filesystem (the host's disk under Docker) is nearly full",
        "free space on the host (`docker system df`, `docker image prune`) and in the "
        "node (`crictl rmi --prune`); the kubelet lifts the taint once usage drops",
    ),
    PressureCause(
        "MemoryPressure",
        "node.memory-pressure",
        "the node's available memory is below the kubelet's eviction threshold",
        "free memory on the host (fewer labs or workers at once) or lower the pods' memory use",
    ),
    PressureCause(
        "PIDPressure",
        "node.pid-pressure",
        "the node is running out of process ids",
        "find the pod forking without bound (`crictl stats`); raise the host's kernel.pid_max",
    ),
)


@RULES.rule()
def pressure(snapshot: LabSnapshot) -> Iterator[Diagnosis]:
    for node in snapshot.nodes:
        for cause in PRESSURE_CAUSES:
            condition = node_condition(node, cause.condition)
            if condition is not None and condition.status == "True":
                name = node.metadata.name
                yield Diagnosis(
                    cause.cause_id,
                    f"node {name} has {cause.condition}: {cause.why}",
                    node_subject(name),
                    (describe_condition(condition), describe_taints(node)),
                    cause.fix,
                )


JOIN_COMMAND = "kubeadm token create --print-join-command"
# What `kubeadm join` says at discovery for the two usual mistakes (kubeadm 1.34).
TOKEN_UNKNOWN = "could not find a JWS signature in the cluster-info ConfigMap for token ID"
CA_NOT_PINNED = (
    "cluster CA found in cluster-info ConfigMap is invalid: none of the public keys ... are pinned"
)


@RULES.rule()
def not_registered(snapshot: LabSnapshot) -> Iterator[Diagnosis]:
    if snapshot.api_error is not None:
        return
    registered = {n.metadata.name for n in snapshot.nodes}
    for name, status in sorted(snapshot.containers.items()):
        journal = snapshot.journal(name, "kubelet")
        if name in registered or status != "running" or kubelet_exit_error(journal):
            continue
        evidence = [
            f"API nodes: {', '.join(sorted(registered)) or 'none'}",
            f"journalctl -u kubelet (tail):\n{tail(journal)}",
        ]
        kubelet = kubelet_unit_state(journal)
        if name != snapshot.control_plane and kubelet in ("not configured", "stopped"):
            yield _not_joined(snapshot, name, kubelet, evidence)
            continue
        joined_by = "kubeadm init" if name == snapshot.control_plane else "kubeadm join"
        yield Diagnosis(
            "node.not-registered",
            f"node {name} runs but has no Node object in the API",
            node_subject(name),
            tuple(evidence),
            f"its kubelet never registered: did `{joined_by}` succeed on it? Read why in "
            f"{_exec(snapshot, name, 'journalctl -u kubelet -n 100')} (a wrong API endpoint, "
            "an expired bootstrap token, or certificate errors show there)",
        )


def _not_joined(snapshot: LabSnapshot, name: str, kubelet: str, evidence: list[str]) -> Diagnosis:
    """A worker whose kubelet does not run: `kubeadm join` failed before starting it (at
    discovery or preflight), and only kubeadm's own output says why."""
    summary = (
        f"node {name} runs but has not joined: its kubelet is {kubelet} (systemd), so "
        "`kubeadm join` has not completed on it"
    )
    create = _exec(snapshot, snapshot.control_plane, JOIN_COMMAND)
    if snapshot.join_tokens == ():
        evidence.append("bootstrap tokens usable for joining: none")
        return Diagnosis(
            "node.not-registered",
            summary + ", and the cluster has no usable bootstrap token "
            "(expired or deleted), so a join fails at discovery",
            node_subject(name),
            tuple(evidence),
            f"create a token with its join command on the control plane: {create}, then run "
            f"that command on {name} (after `kubeadm reset -f` there if a join went part way)",
        )
    if snapshot.join_tokens:
        evidence.append(f"bootstrap tokens usable for joining: {', '.join(snapshot.join_tokens)}")
    return Diagnosis(
        "node.not-registered",
        summary,
        node_subject(name),
        tuple(evidence),
        f"run `kubeadm join` on it again and read kubeadm's error (the kubelet's journal has "
        f'none): "{TOKEN_UNKNOWN} ..." means its token is expired or deleted, '
        f'"{CA_NOT_PINNED}" a wrong --discovery-token-ca-cert-hash; {create} prints a '
        f"command with both right (run `kubeadm reset -f` on {name} first if a join went part "
        "way)",
    )


@RULES.rule(fallback=True)
def not_ready(snapshot: LabSnapshot) -> Iterator[Diagnosis]:
    for node in snapshot.nodes:
        if is_ready(node):
            continue
        name = node.metadata.name
        ready = node_condition(node, "Ready")
        yield Diagnosis(
            "node.not-ready",
            f"node {name} is NotReady for a reason labkit does not recognise",
            node_subject(name),
            (
                describe_condition(ready) if ready else "no Ready condition",
                describe_taints(node),
                f"journalctl -u kubelet (tail):\n{tail(snapshot.journal(name, 'kubelet'))}",
            ),
            f"read the Ready condition's message above and the kubelet's account in "
            f"{_exec(snapshot, name, 'journalctl -u kubelet -n 100')}",
        )
