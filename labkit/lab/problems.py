"""The words for what is wrong with a lab's containers, etcd and API server, said once:
`lab status` (from Docker and crictl, live) and `diagnose` (from its snapshot) both build
their findings from these, so they name a problem and its fix alike.

    problem = quorum_lost("demo", {"demo-control-plane": "running", ...})
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from labkit.constants import API_SERVER_PORT, ROLE_LOAD_BALANCER, ROLE_REGISTRY, manifest_path
from labkit.lab.runtime import RuntimeContainer, newest
from labkit.spec import etcd_quorum

# Components the API server needs, in the order they have to come up.
API_COMPONENTS = ("etcd", "kube-apiserver")


@dataclass(frozen=True)
class Problem:
    """Something of the lab that does not work: what, and the fix."""

    subject: str  # node/<name>, container/<name>, etcd or api
    problem: str
    fix: str


def on_node(lab: str, node: str, command: str) -> str:
    return f"`labkit lab exec {lab} {node} -- {command}`"


# What a stopped container of the lab is called, by role, when it is not a node.
_NOT_NODES = {ROLE_LOAD_BALANCER: "load balancer", ROLE_REGISTRY: "registry"}


def container_stopped(
    lab: str, name: str, status: str, *, role: str = "", ending: str = ""
) -> Problem:
    """A container of the lab that is not running; `ending` is what Docker says of it."""
    what, kind = (
        (_NOT_NODES[role], "container") if role in _NOT_NODES else ("node container", "node")
    )
    said = f" ({ending})" if ending else ""
    return Problem(
        f"{kind}/{name}",
        f"{what} {name} is {status}{said}",
        f"`labkit lab start {lab}` starts the stopped nodes in order and waits until Ready "
        f"(or `docker start {name}`); `docker logs --tail 30 {name}` shows how it ended",
    )


def quorum_lost(lab: str, control_planes: Mapping[str, str]) -> Problem | None:
    """Fewer control planes run than etcd's quorum (a majority of its members, one per
    control plane); `control_planes` maps each to Docker's status of it."""
    stopped = [name for name, status in control_planes.items() if status != "running"]
    members, quorum = len(control_planes), etcd_quorum(len(control_planes))
    if members < 2 or members - len(stopped) >= quorum:
        return None
    return Problem(
        "etcd",
        f"etcd lost its quorum: {members - len(stopped)} of its {members} members run and "
        f"it needs {quorum}, so every API server refuses reads and writes",
        f"`labkit lab start {lab}` starts {', '.join(stopped)} (or `docker start "
        f"{' '.join(stopped)}`); etcd serves again once {quorum} members run, with no object "
        "lost",
    )


def api_components_problem(
    lab: str,
    control_plane: str,
    runtime: tuple[RuntimeContainer, ...],
    *,
    log_reason: Callable[[RuntimeContainer], str] | None = None,
    kubelet_failed: tuple[str, str] | None = None,
) -> tuple[str, str]:
    """(what, fix) of an API server that does not answer, from the control plane's
    `crictl ps -a`: the first of etcd and kube-apiserver that does not run, else the API
    server that runs and is not ready. `log_reason` reads a container's last error line;
    `kubelet_failed` is (why the kubelet exits, its fix) when its journal says so."""

    def said(container: RuntimeContainer) -> str:
        return f"; its log says: {log_reason(container)}" if log_reason else ""

    def run(command: str) -> str:
        return on_node(lab, control_plane, command)

    for component in API_COMPONENTS:
        current = newest(runtime, component)
        manifest = manifest_path(component)
        if current is None and kubelet_failed:
            why, fix = kubelet_failed
            return (f"the kubelet fails to start, so it never started {component}: {why}", fix)
        if current is None:
            return (
                f"the kubelet has not started {component}",
                f"when {manifest} changes, the kubelet removes the old container and starts a "
                f"new one within seconds: wait (`labkit check {lab} --wait 120`); if none "
                f"comes, the kubelet cannot use that file: check it and "
                f"{run('journalctl -u kubelet -n 100')}",
            )
        if not current.running:
            looping = "crash-looping" if current.attempt > 0 else "exited and not restarted yet"
            return (
                f"{component} is not running: {looping} (attempt {current.attempt})"
                + said(current),
                f"its flags are in {manifest} (the kubelet restarts it when the file "
                f"changes); its whole log: {run(f'crictl logs {current.id[:13]}')}",
            )
    apiserver = newest(runtime, "kube-apiserver")
    assert apiserver is not None  # the loop returned otherwise
    state = (
        f"was restarted (attempt {apiserver.attempt}) and is not ready yet"
        if apiserver.attempt
        else "runs but is not ready: it is starting, or stopping to be restarted"
    )
    return (
        f"etcd runs and kube-apiserver {state}" + said(apiserver),
        f"wait for it (`labkit check {lab} --wait 120` waits until it answers); if it keeps "
        f"restarting, its flags are in {manifest_path('kube-apiserver')} and "
        f"{run(f'crictl logs {apiserver.id[:13]}')} says why; if it answers on the node, "
        f"compare the published port (`docker port {control_plane} {API_SERVER_PORT}`) with "
        f"the lab's kubeconfig (`labkit lab kubeconfig {lab}` warns when they differ)",
    )
