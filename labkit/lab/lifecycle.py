"""`labkit lab stop` and `labkit lab start`: a lab that survives restarts.

Every node keeps the address it was given on the lab network and the control plane keeps
its API port on 127.0.0.1, both fixed when the lab was created, so the nodes may start in
any order, by labkit or by anything else (`docker start`, a Docker engine restart, a
reboot), and the lab's kubeconfig stays valid. `stop` stops the workers, then the control
plane; `start` starts whatever is stopped, control plane first, and waits until the lab is
Ready as `lab up` does. Both are pipelines of named, timed steps. A lab stopped by `stop`
stays stopped when the Docker engine restarts; one stopped otherwise comes back then.

    lab = LabModel.find(docker_client(), "demo")
    stop_lab(lab)
    print(f"Ready again in {start_lab(lab).total_seconds:.0f}s")
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import docker.errors
from kubernetes import client as k8s

from labkit.constants import (
    API_SERVER_STOP_TIMEOUT,
    NODE_STOP_TIMEOUT,
    ROLE_LOAD_BALANCER,
    ROLE_REGISTRY,
)
from labkit.errors import StepFailed
from labkit.lab import waits
from labkit.lab.api import API_FAILURES, API_PROBE_INTERVAL, api_answers
from labkit.lab.load_balancer import RESTART_POLICY as LOAD_BALANCER_RESTART
from labkit.lab.model import LabModel
from labkit.lab.network import PORT_TAKEN
from labkit.lab.node import RESTART_POLICY, Node
from labkit.parallel import parallel
from labkit.pipeline import LabRunResult, Progress, Step, StepTiming, required, run_steps
from labkit.spec import LabSpec

_STOPPED = ("created", "exited")


@dataclass
class Restart:
    """What `stop` and `start` work on, and what their steps find out."""

    lab: LabModel
    progress: Progress
    spec: LabSpec | None = None
    api: k8s.ApiClient | None = None
    # Nodes this run stopped or started.
    acted_on: list[str] = field(default_factory=list)


@dataclass(frozen=True, repr=False)
class RestartResult(LabRunResult):
    """A lab stopped or started (a failure raises); `str()` is what `labkit lab stop` or
    `labkit lab start` prints at its end."""

    lab: LabModel
    timings: list[StepTiming]
    # Nodes this run stopped or started: none when the lab was so already.
    acted_on: list[str]
    action: Literal["stop", "start"]

    def __str__(self) -> str:
        name = self.lab.name
        if self.action == "stop":
            if not self.acted_on:
                return f"lab {name!r} was stopped already"
            return (
                f"lab {name!r} stopped in {self.total_seconds:.1f}s; "
                f"`labkit lab start {name}` starts it again"
            )
        started = "started and " if self.acted_on else "was running; "
        return (
            f"lab {name!r} {started}Ready in {self.total_seconds:.1f}s; "
            f"kubeconfig: {self.lab.kubeconfig}"
        )

    def _fields(self) -> dict[str, Any]:
        return {"action": self.action, "acted_on": list(self.acted_on)}

    def _headline(self) -> str:
        return f"{self.lab.name!r} {self.action}: {len(self.acted_on)} nodes"


def _reload(nodes: list[Node]) -> None:
    for node in nodes:
        node.container.reload()


def _stop_nodes(run: Restart, nodes: list[Node]) -> None:
    running = [n for n in nodes if n.container.status not in _STOPPED]
    if not running:
        run.progress.say("   none running")
        return

    def stop(node: Node) -> None:
        if node.is_control_plane:
            _stop_api_server(run, node)
        # Else Docker starts the node again when the engine starts (a clean stop exits 130).
        node.container.update(restart_policy={"Name": "no"})
        node.container.stop(timeout=NODE_STOP_TIMEOUT)
        node.container.reload()

    parallel(running, stop)
    run.acted_on += [n.name for n in running]
    run.progress.say(f"   stopped {', '.join(n.name for n in running)}")


def _stop_api_server(run: Restart, node: Node) -> None:
    """On a node's poweroff systemd stops every pod at once, and the API server's shutdown
    then waits on the etcd that is gone, until Docker kills the node. Killed first (the
    kubelet stopped, else it starts it again), it holds nothing up; it keeps no state, and
    etcd still stops cleanly with the node."""
    command = (
        "systemctl stop kubelet && "
        "crictl ps -q --name kube-apiserver | xargs -r crictl stop --timeout 0"
    )
    result = node.exec(["sh", "-c", command], check=False, timeout=API_SERVER_STOP_TIMEOUT)
    if not result.ok:
        run.progress.say(
            f"   {node.name}: the API server could not be stopped first, so the node may take "
            f"up to {NODE_STOP_TIMEOUT}s to stop: {(result.stderr or result.stdout).strip()[-300:]}"
        )


def stop_workers(run: Restart) -> None:
    _reload(run.lab.nodes)
    _stop_nodes(run, run.lab.workers)


def stop_control_plane(run: Restart) -> None:
    _stop_nodes(run, run.lab.control_planes)


def stop_load_balancer(run: Restart) -> None:
    _stop_nodes(run, _load_balancer(run))


def _load_balancer(run: Restart) -> list[Node]:
    return _present(run, run.lab.load_balancer, "one control plane")


def _present(run: Restart, found: Node | None, absent: str) -> list[Node]:
    """The lab's load balancer or registry as a list to stop or start; said when absent."""
    if found is None:
        run.progress.say(f"   none: {absent}")
    return [found] if found else []


def stop_registry(run: Restart) -> None:
    _stop_nodes(run, _registry(run))


def _registry(run: Restart) -> list[Node]:
    return _present(run, run.lab.registry, "the lab has no registry")


STOP_STEPS: list[Step[Restart]] = [
    Step("stop workers", stop_workers),
    Step("stop control plane", stop_control_plane),
    Step("stop load balancer", stop_load_balancer),
    Step("stop registry", stop_registry),
]


def read_lab(run: Restart) -> None:
    """Everything `start` needs from the lab's state, read before anything is started."""
    run.spec = run.lab.state.spec()
    run.api = run.lab.api_client()
    _reload(run.lab.nodes)
    stopped = [n.name for n in run.lab.nodes if n.container.status != "running"]
    run.progress.say(f"   stopped: {', '.join(stopped)}" if stopped else "   every node runs")
    unfixed = [n.name for n in run.lab.nodes if n.fixed_address() is None]
    if unfixed or run.lab.api_front.fixed_api_port() is None:
        run.progress.say(
            f"   lab {run.lab.name!r} was made before labkit fixed node addresses and its "
            "API port: its nodes may come back at other addresses, which its certificates "
            "do not carry; bring it up anew to get fixed ones"
        )


def _start_nodes(run: Restart, nodes: list[Node]) -> None:
    stopped = [n for n in nodes if n.container.status in (*_STOPPED, "paused")]
    if not stopped:
        run.progress.say("   none stopped")
        return
    parallel(stopped, lambda node: _start(run.lab, node))
    run.acted_on += [n.name for n in stopped]
    run.progress.say(f"   started {', '.join(n.name for n in stopped)}")


def _start(lab: LabModel, node: Node) -> None:
    policy = (
        LOAD_BALANCER_RESTART
        if node.role in (ROLE_LOAD_BALANCER, ROLE_REGISTRY)
        else RESTART_POLICY
    )
    node.container.update(restart_policy=dict(policy))
    try:
        if node.container.status == "paused":
            node.container.unpause()
        else:
            node.container.start()
    except docker.errors.APIError as error:
        port = node.fixed_api_port()
        if port is None or not PORT_TAKEN.search(str(error)):
            raise
        # Said whole here: nothing about the Docker engine is to be fixed.
        raise StepFailed(
            operation="docker start",
            node=node.name,
            reason=f"127.0.0.1:{port}, the lab's API port, is taken by another process "
            f"(Docker: {error.explanation or error}); `ss -ltnp 'sport = :{port}'` names it: "
            f"stop it, then run `labkit lab start {lab.name}` again",
        ) from None
    node.container.reload()


def start_registry(run: Restart) -> None:
    _start_nodes(run, _registry(run))


def start_load_balancer(run: Restart) -> None:
    _start_nodes(run, _load_balancer(run))


def start_control_plane(run: Restart) -> None:
    _start_nodes(run, run.lab.control_planes)


def start_workers(run: Restart) -> None:
    _start_nodes(run, run.lab.workers)


def check_addresses(run: Restart) -> None:
    """Every node at the address it was given, the API at its port: what the certificates,
    etcd and the kubeconfig carry."""
    record = run.lab.addresses()
    front = run.lab.api_front
    moved = []
    for node in run.lab.containers:
        given = record.nodes.get(node.name) if record else node.fixed_address()
        if given and node.lab_address() != given:
            moved.append(f"{node.name} is at {node.lab_address()}, made at {given}")
    port = record.api_port if record else front.fixed_api_port()
    if port and front.published_api_port() != port:
        moved.append(f"the API is on 127.0.0.1:{front.published_api_port()}, made on {port}")
    if moved:
        raise StepFailed(
            operation="compare the addresses with the lab's",
            reason="; ".join(moved) + ": the certificates, etcd and the kubeconfig carry "
            f"the ones it was made with; bring it up anew (`labkit lab down {run.lab.name}`, "
            "`labkit lab up`)",
        )
    placed = ", ".join(f"{n.name} {n.lab_address()}" for n in run.lab.nodes)
    run.progress.say(f"   {placed}; API 127.0.0.1:{front.published_api_port()}")


def wait_until_ready(run: Restart) -> None:
    """What `lab up` waits for, after two things that make it mean the same after a start:
    the API has to answer at all, and the statuses it shows have to be newer than each
    node's start (right after a start it still shows the Ready nodes and pods of before)."""
    api, spec = required(run.api), required(run.spec)
    started = {n.name: _started_at(n) for n in run.lab.nodes}
    checks: list[waits.ReadyCheck] = [
        ("API server answers", lambda t: api_answers(api, t)),
        (
            "every kubelet reported since its node started",
            lambda t: kubelets_reported(api, started, t),
        ),
        (
            "kube-system pods running again since their node started",
            lambda t: pods_restarted(api, started, t),
        ),
        *waits.readiness_checks(
            api, list(started), control_planes=spec.control_planes, cni=spec.cni != "none"
        ),
    ]
    tolerant = [(title, _while_api_settles(check)) for title, check in checks]
    waits.ready_or_fail(tolerant, api, run.lab.nodes, run.progress.say)


START_STEPS: list[Step[Restart]] = [
    Step("read the lab", read_lab),
    Step("start registry", start_registry),
    Step("start load balancer", start_load_balancer),
    Step("start control plane", start_control_plane),
    Step("start workers", start_workers),
    Step("check addresses", check_addresses),
    Step("wait until Ready", wait_until_ready),
]


def stop_lab(lab: LabModel, *, progress: Progress | None = None) -> RestartResult:
    """Stop the workers, then the control plane; nodes already stopped stay so."""
    return _run(STOP_STEPS, lab, progress, "stop")


def start_lab(lab: LabModel, *, progress: Progress | None = None) -> RestartResult:
    """Start what is stopped, control plane first, and wait until the lab is Ready."""
    return _run(START_STEPS, lab, progress, "start")


def _run(
    steps: list[Step[Restart]],
    lab: LabModel,
    progress: Progress | None,
    action: Literal["stop", "start"],
) -> RestartResult:
    progress = progress or Progress()
    progress.say(f"{'stopping' if action == 'stop' else 'starting'} lab {lab.name!r}")
    run = Restart(lab=lab, progress=progress)
    try:
        timings = run_steps(steps, run, progress)
    finally:
        if run.api is not None:
            run.api.close()
    return RestartResult(lab, timings, run.acted_on, action)


def _started_at(node: Node) -> datetime:
    """When Docker last started the node, to the second: the API's timestamps have no
    finer grain, and the kubelet starts seconds after its container."""
    started = datetime.fromisoformat(node.container.attrs["State"]["StartedAt"])
    return started.replace(microsecond=0)


def _while_api_settles(check: Callable[[float], bool]) -> Callable[[float], bool]:
    """A check asked again while the API server fails to answer: a freshly started one
    can drop a request or two while etcd and its own caches settle."""

    def tolerant(timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            try:
                return check(max(1.0, deadline - time.monotonic()))
            except API_FAILURES:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(API_PROBE_INTERVAL)

    return tolerant


def kubelets_reported(api: k8s.ApiClient, started: Mapping[str, datetime], timeout: float) -> bool:
    """Every node's kubelet posted its status since its node started: on its start it
    does at once, and again every few minutes at the latest."""

    def reported(nodes: list[k8s.V1Node]) -> bool:
        heartbeats = {n.metadata.name: _ready_heartbeat(n) for n in nodes}
        return all(
            (beat := heartbeats.get(name)) is not None and beat >= since
            for name, since in started.items()
        )

    return waits.wait_until(k8s.CoreV1Api(api).list_node, reported, timeout)


def _ready_heartbeat(node: k8s.V1Node) -> datetime | None:
    ready = [c for c in node.status.conditions or [] if c.type == "Ready"]
    return ready[0].last_heartbeat_time if ready else None


def pods_restarted(api: k8s.ApiClient, started: Mapping[str, datetime], timeout: float) -> bool:
    """Every kube-system pod on the nodes runs containers started since its node did, all
    ready: every container dies with its node, so one started before is a stale status."""

    def restarted(pods: list[k8s.V1Pod]) -> bool:
        return all(
            _running_since(pod, started[pod.spec.node_name])
            for pod in pods
            if pod.spec.node_name in started
            and pod.metadata.deletion_timestamp is None
            and pod.status.phase not in ("Succeeded", "Failed")
        )

    return waits.wait_until(
        k8s.CoreV1Api(api).list_namespaced_pod, restarted, timeout, namespace="kube-system"
    )


def _running_since(pod: k8s.V1Pod, since: datetime) -> bool:
    statuses = pod.status.container_statuses or []
    return bool(statuses) and all(
        status.ready
        and status.state.running is not None
        and status.state.running.started_at >= since
        for status in statuses
    )
