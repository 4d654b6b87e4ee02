"""What diagnosis reads: a plain snapshot of one lab, and the diagnoses made from it.

The snapshot holds kubernetes-client model objects as the API returned them, plus what
the nodes themselves say (container state, journal tails, the control plane's CRI view).
`fetch.fetch_snapshot` fills one from a running lab; tests build them directly.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from kubernetes import client as k8s

from labkit.lab.runtime import RuntimeContainer
from labkit.lab.waits import is_ready
from labkit.spec import DEFAULT_POD_SUBNET, etcd_quorum

JOURNAL_UNITS = ("kubelet", "containerd")
# How the kubelet says why it exits at start (bad flags, config, cgroups, certificates);
# systemd then restarts it every second or so, so a journal tail shows the latest try.
KUBELET_EXIT = re.compile(r'"command failed" err="(?P<err>(?:[^"\\]|\\.)*)"')
# What systemd says of the kubelet unit (the node image's unit starts only once kubeadm has
# written /var/lib/kubelet/config.yaml). Older systemd words the skip "Condition check
# resulted in ... being skipped".
KUBELET_UNIT_EVENTS = (
    (
        "not configured",
        re.compile(
            # bookworm's systemd 252, older ones, and trixie's 257 ("skipped, unmet condition").
            r"systemd\[1\]: .*kubelet.*(was skipped because of an "
            r"unmet condition|being skipped|skipped, unmet condition)"
        ),
    ),
    (
        "stopped",
        re.compile(
            r"systemd\[1\]: (Stopped kubelet|kubelet\.service: Deactivated "
            r"successfully)"
        ),
    ),
    ("started", re.compile(r"systemd\[1\]: Started kubelet")),
)


@dataclass(frozen=True)
class Diagnosis:
    """A likely cause of a problem, on one node or pod, and what to do about it."""

    cause_id: str
    summary: str
    subject: str  # node/<name> or pod/<namespace>/<name> (node_subject, pod_subject)
    evidence: tuple[str, ...]
    fix: str


@dataclass(frozen=True)
class LabSnapshot:
    lab: str
    control_plane: str
    # Docker's view of every node container of the lab: name -> status (running, exited...).
    containers: Mapping[str, str]
    # `docker logs` tails of the node containers that are not running.
    consoles: Mapping[str, str] = field(default_factory=dict)
    nodes: tuple[k8s.V1Node, ...] = ()
    pods: tuple[k8s.V1Pod, ...] = ()
    events: tuple[k8s.CoreV1Event, ...] = ()
    # Why the API could not be read; None when it answered.
    api_error: str | None = None
    # node -> unit -> journal tail; only of the nodes diagnosis had reason to look at.
    journals: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    # The control plane's `crictl ps -a`, read when the API does not answer.
    control_plane_runtime: tuple[RuntimeContainer, ...] | None = None
    control_plane_runtime_error: str | None = None
    pod_subnet: str = DEFAULT_POD_SUBNET
    # Ids of the bootstrap tokens a node could join with now (unexpired, for authentication
    # and signing); None when they could not be read.
    join_tokens: tuple[str, ...] | None = None
    # Every control plane, the first (`control_plane`) first; several share one etcd.
    control_planes: tuple[str, ...] = ()
    # The container in front of several control planes and Docker's status of it.
    load_balancer: str | None = None
    load_balancer_status: str | None = None
    # The lab's registry (None with `registry: none`): its container, Docker's status of it,
    # its address on the lab network and its port on 127.0.0.1.
    registry: str | None = None
    registry_status: str | None = None
    registry_address: str | None = None
    registry_port: int | None = None
    # Each image a pod fails to pull -> the tags the registry holds of its repository
    # (empty: none; None: the registry could not be asked).
    registry_tags: Mapping[str, tuple[str, ...] | None] = field(default_factory=dict)

    @property
    def etcd_quorum(self) -> int:
        return etcd_quorum(len(self.control_planes))

    def journal(self, node: str, unit: str) -> str:
        return self.journals.get(node, {}).get(unit, "")

    def node(self, name: str) -> k8s.V1Node | None:
        return next((n for n in self.nodes if n.metadata.name == name), None)

    def events_about(self, kind: str, namespace: str | None, name: str) -> list[k8s.CoreV1Event]:
        return [
            e
            for e in self.events
            if e.involved_object.kind == kind
            and e.involved_object.name == name
            and (namespace is None or e.involved_object.namespace in (namespace, None))
        ]


def node_subject(name: str) -> str:
    return f"node/{name}"


def pod_subject(pod: k8s.V1Pod) -> str:
    return f"pod/{pod.metadata.namespace}/{pod.metadata.name}"


def node_condition(node: k8s.V1Node, kind: str) -> k8s.V1NodeCondition | None:
    return (
        next((c for c in node.status.conditions or [] if c.type == kind), None)
        if node.status
        else None
    )


def describe_condition(condition: k8s.V1NodeCondition | k8s.V1PodCondition) -> str:
    return (
        f"{condition.type}={condition.status} {condition.reason or ''}: "
        f"{(condition.message or '').strip()}"
    )


def describe_taints(node: k8s.V1Node) -> str:
    taints = (node.spec.taints or []) if node.spec else []
    return "taints: " + (", ".join(f"{t.key}:{t.effect}" for t in taints) or "none")


def describe_event(event: k8s.CoreV1Event) -> str:
    count = f" (x{event.count})" if event.count and event.count > 1 else ""
    return f"event {event.type or ''} {event.reason}{count}: {(event.message or '').strip()}"


def container_statuses(pod: k8s.V1Pod) -> Iterator[k8s.V1ContainerStatus]:
    """Init containers first: a pod stuck in one never starts the others."""
    status = pod.status
    if status is None:
        return
    yield from status.init_container_statuses or []
    yield from status.container_statuses or []


def container_spec(pod: k8s.V1Pod, name: str) -> k8s.V1Container | None:
    spec = pod.spec
    if spec is None:
        return None
    return next(
        (c for c in [*(spec.init_containers or []), *spec.containers] if c.name == name), None
    )


def is_failing(pod: k8s.V1Pod) -> bool:
    """Neither done nor running with every container ready."""
    phase = pod.status.phase if pod.status else None
    if phase == "Succeeded":
        return False
    if phase != "Running":
        return True
    return not all(s.ready for s in pod.status.container_statuses or [])


def kubelet_exit_error(journal: str) -> str | None:
    """The error of the kubelet's last failed start in a journal tail, if any."""
    errors = [m["err"].replace('\\"', '"') for m in KUBELET_EXIT.finditer(journal)]
    return errors[-1] if errors else None


def kubelet_unit_state(journal: str) -> str | None:
    """What systemd last did with the kubelet unit in a journal tail: "not configured"
    (skipped: kubeadm init or join has not written its config), "stopped" or "started";
    None when the tail has no such line (a kubelet running for a while)."""
    state = None
    for line in journal.splitlines():
        state = next((name for name, pattern in KUBELET_UNIT_EVENTS if pattern.search(line)), state)
    return state


# Terminal control sequences (colours, cursor moves) in a node's console, which systemd
# draws on its tty while it stops units.
_TERMINAL_CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Za-z0-9]|\x1b[A-Za-z=>]")


def tail(text: str, lines: int = 12) -> str:
    """The last `lines` lines that say something, without terminal control sequences;
    a line redrawn in place (carriage returns) counts as its last drawing."""
    plain = _TERMINAL_CONTROL.sub("", text)
    drawn = (line.rstrip("\r").rsplit("\r", 1)[-1].rstrip() for line in plain.split("\n"))
    return "\n".join([line for line in drawn if line.strip()][-lines:])


def suspect_nodes(snapshot: LabSnapshot) -> list[str]:
    """Nodes whose journals diagnosis wants: NotReady or unregistered nodes, nodes hosting
    failing pods, and the control plane when the API does not answer."""
    if snapshot.api_error is not None:
        return [snapshot.control_plane]
    registered = {n.metadata.name for n in snapshot.nodes}
    names = {n for n in snapshot.containers if n not in registered}
    names |= {n.metadata.name for n in snapshot.nodes if not is_ready(n)}
    names |= {
        p.spec.node_name for p in snapshot.pods if p.spec and p.spec.node_name and is_failing(p)
    }
    return sorted(n for n in names if snapshot.containers.get(n) == "running")
