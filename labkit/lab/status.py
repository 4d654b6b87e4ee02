"""`labkit lab status`: the lab as Docker and the API see it, and when something does not
answer, which thing, why, and what to do.

    status = lab_status(LabModel.find(docker_client(), "demo"))
    print(status)  # what `labkit lab status demo` prints
    for problem in status.problems:
        print(problem.problem, problem.fix)

The API server of a lab fails to answer in a few distinct ways: its node container is
stopped; it restarts or crash-loops (a changed manifest, a bad flag, etcd down), which
`crictl` on the control plane shows; or Docker published its port anew when the container
restarted, so the lab's kubeconfig points at a port nobody listens on. Each gets its fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kubernetes import client as k8s

from labkit.constants import (
    API_REQUEST_TIMEOUT,
    API_SERVER_PORT,
    ROLE_LOAD_BALANCER,
    ROLE_REGISTRY,
)
from labkit.errors import LabkitError
from labkit.lab import problems
from labkit.lab.api import API_FAILURES, failure_reason
from labkit.lab.model import LabModel
from labkit.lab.node import Node
from labkit.lab.problems import Problem
from labkit.lab.runtime import last_log_reason, read_runtime
from labkit.lab.waits import is_ready
from labkit.nodeimage.registry_image import published_port
from labkit.results import Result


@dataclass(frozen=True)
class NodeStatus:
    """One container of the lab: its role, Docker's state, and the API's (Ready, NotReady,
    or why it is not known)."""

    name: str
    role: str
    container: str
    ip: str | None
    kubernetes: str


@dataclass(frozen=True)
class ApiStatus:
    server: str | None
    answers: bool
    error: str | None


@dataclass(frozen=True, repr=False)
class LabStatus(Result):
    """The lab as Docker and the API see it; `str()` is what `labkit lab status` prints,
    `as_dict()` what its `--json` prints."""

    name: str
    kubeconfig: Path
    nodes: tuple[NodeStatus, ...]
    api: ApiStatus
    problems: tuple[Problem, ...]
    # The bring-up's steps and their seconds, and the last upgrade, as the state recorded.
    timings: Mapping[str, float]
    upgrade: Mapping[str, Any] | None

    @property
    def ok(self) -> bool:
        # Exit 1 when something does not answer, as `diagnose` does when it finds something.
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kubeconfig": str(self.kubeconfig),
            "nodes": [asdict(node) for node in self.nodes],
            "api": asdict(self.api),
            "problems": [asdict(problem) for problem in self.problems],
            "timings": dict(self.timings),
            "upgrade": None if self.upgrade is None else dict(self.upgrade),
        }

    def __str__(self) -> str:
        lines = [f"lab {self.name}: kubeconfig {self.kubeconfig}"]
        lines += [
            f"  {node.name:<28} {node.role:<14} {node.container:<10} "
            f"{node.ip or '-':<15} {node.kubernetes}"
            for node in self.nodes
        ]
        lines += [f"  step {step:<28} {seconds:>7.1f}s" for step, seconds in self.timings.items()]
        if self.upgrade:
            pending = self.upgrade["pending"]
            state = "pending: " + ", ".join(pending) if pending else "done"
            lines.append(f"  upgrade {self.upgrade['from']} -> {self.upgrade['to']}: {state}")
        if self.api.answers:
            lines.append(f"  API server {self.api.server} answers")
        for problem in self.problems:
            lines += [f"  {problem.subject}: {problem.problem}", f"    what to do: {problem.fix}"]
        return "\n".join(lines)

    def _headline(self) -> str:
        return f"{self.name!r}: {len(self.nodes)} containers, {len(self.problems)} problems"


def lab_status(lab: LabModel) -> LabStatus:
    """What `labkit lab status` prints: each container, the API, the problems with their
    fixes, the bring-up's timings and the last upgrade."""
    server, kube_state, api_error = _kubernetes_state(lab)
    nodes = []
    for node in lab.containers:
        networks = node.container.attrs["NetworkSettings"]["Networks"]
        ip = next(iter(networks.values()), {}).get("IPAddress") if networks else None
        unknown = "unknown" if api_error is None else "API unreachable"
        if node.role in (ROLE_LOAD_BALANCER, ROLE_REGISTRY):
            unknown = "-"  # not a node of the cluster
        if node.role == ROLE_REGISTRY and node.container.status == "running":
            unknown = f"localhost:{published_port(node.container)}"
        nodes.append(
            NodeStatus(
                node.name,
                node.role,
                node.container.status,
                ip or None,
                kube_state.get(node.name, unknown),
            )
        )
    return LabStatus(
        name=lab.name,
        kubeconfig=lab.kubeconfig,
        nodes=tuple(nodes),
        api=ApiStatus(server, api_error is None, api_error),
        problems=tuple(lab_problems(lab, server, api_error)),
        timings=lab.bringup_record().get("timings", {}),
        upgrade=lab.state.upgrade_record(),
    )


def _kubernetes_state(lab: LabModel) -> tuple[str | None, dict[str, str], str | None]:
    """(the API server's address, node -> Ready or NotReady, why the API did not answer)."""
    try:
        api = lab.api_client()
    except LabkitError as error:
        return None, {}, str(error)
    try:
        listed = k8s.CoreV1Api(api).list_node(_request_timeout=API_REQUEST_TIMEOUT).items
    except API_FAILURES as error:
        return api.configuration.host, {}, failure_reason(error)
    finally:
        api.close()
    states = {n.metadata.name: "Ready" if is_ready(n) else "NotReady" for n in listed}
    return api.configuration.host, states, None


def lab_problems(lab: LabModel, server: str | None, api_error: str | None) -> list[Problem]:
    """Stopped containers (nodes, the load balancer, the registry), then why the API does
    not answer (if it does not)."""
    front = lab.api_front
    problems = [p for p in (stopped_node(lab, node) for node in lab.containers) if p]
    if front.container.status != "running":
        return problems  # its stopped container is the API's problem too
    lost = quorum_problem(lab) if api_error is not None else None
    if lost:
        return [*problems, lost]
    mismatch = kubeconfig_port_mismatch(lab)
    if mismatch:
        problems.append(mismatch)
    elif api_error is not None and server is not None:
        problems.append(api_server_problem(lab, f"the API server at {server}", api_error))
    elif api_error is not None:
        problems.append(Problem("api", api_error, f"`labkit lab down {lab.name}`, then up"))
    return problems


def quorum_problem(lab: LabModel) -> Problem | None:
    """Fewer control planes run than etcd's quorum (a majority of its members)."""
    return problems.quorum_lost(lab.name, {n.name: n.container.status for n in lab.control_planes})


def stopped_node(lab: LabModel, node: Node) -> Problem | None:
    """A container of the lab that is not running, with what Docker says of its end."""
    status = node.container.status
    if status == "running":
        return None
    node.container.reload()
    state = node.container.attrs.get("State") or {}
    ending = f"exit code {state.get('ExitCode')}, finished {state.get('FinishedAt', '?')}"
    if state.get("Error"):
        ending += f", {state['Error']}"
    return problems.container_stopped(lab.name, node.name, status, role=node.role, ending=ending)


def published_api_port(node: Node) -> int | None:
    try:
        return node.published_api_port()
    except (IndexError, KeyError, TypeError):  # a stopped container publishes nothing
        return None


def kubeconfig_port_mismatch(lab: LabModel) -> Problem | None:
    """The lab's kubeconfig names another port than the one Docker publishes 6443 on: a
    restarted container gets a new random host port, the kubeconfig keeps the old one."""
    named = lab.state.kubeconfig_server()
    published = published_api_port(lab.api_front)
    if named is None or published is None:
        return None
    cluster, server = named
    if urlsplit(server).port == published:
        return None
    return Problem(
        "api",
        f"the lab's kubeconfig points at {server}, but Docker publishes the control "
        f"plane's {API_SERVER_PORT}/tcp on 127.0.0.1:{published} (a restarted container "
        "gets a new port)",
        f"point the kubeconfig at it: `kubectl config set-cluster {cluster} "
        f"--server=https://127.0.0.1:{published} --kubeconfig {lab.kubeconfig}` (or edit "
        "the `server:` line of that file)",
    )


def api_server_problem(lab: LabModel, what: str, api_error: str) -> Problem:
    """Why the API server does not answer, from the control plane's container runtime."""
    control_plane = lab.control_plane
    head = f"{what} does not answer ({api_error})"
    runtime, runtime_error = read_runtime(control_plane)
    if runtime is None:
        return Problem(
            "api",
            f"{head}, nor does the container runtime on {control_plane.name}: {runtime_error}",
            "check containerd: "
            + problems.on_node(lab.name, control_plane.name, "systemctl status containerd"),
        )
    cause, fix = problems.api_components_problem(
        lab.name,
        control_plane.name,
        runtime,
        log_reason=lambda container: last_log_reason(control_plane, container.id),
    )
    return Problem("api", f"{head}: {cause}", fix)
