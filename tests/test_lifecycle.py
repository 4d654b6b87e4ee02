"""`lab stop` and `lab start` on fake nodes: the order, a taken API port, moved addresses,
and statuses older than a node's start."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import docker.errors
import pytest
from kubernetes import client as k8s

from labkit.constants import ROLE_LOAD_BALANCER, ROLE_REGISTRY
from labkit.errors import StepFailed
from labkit.facade import Lab
from labkit.lab import lifecycle
from labkit.lab.lifecycle import START_STEPS, Restart, stop_lab
from labkit.lab.load_balancer import RESTART_POLICY as LOAD_BALANCER_RESTART
from labkit.lab.network import LabAddresses
from labkit.lab.node import RESTART_POLICY, ExecResult, Node
from labkit.lab.registry import RESTART_POLICY as REGISTRY_RESTART
from labkit.lab.state import LabState
from labkit.naming import LABEL_LAB
from labkit.pipeline import Progress, run_steps

STARTED = datetime(2026, 12, 2, 10, 0, 0, tzinfo=UTC)


class FakeContainer:
    def __init__(self, name: str, events: list[str], status: str, address: str) -> None:
        self.name = name
        self.events = events
        self.status = status
        self.labels = {LABEL_LAB: "lab"}
        self.refusal: str | None = None
        self.restart_policy: dict[str, Any] = {"Name": "on-failure", "MaximumRetryCount": 1}
        self.attrs: dict[str, Any] = {
            "State": {"StartedAt": "2026-12-02T10:00:00.5Z"},
            "NetworkSettings": {
                "Networks": {"lab": {"IPAMConfig": {"IPv4Address": address}, "IPAddress": ""}},
                "Ports": {},
            },
            "HostConfig": {"PortBindings": {}},
        }

    def publish(self, port: int) -> None:
        binding = [{"HostIp": "127.0.0.1", "HostPort": str(port)}]
        self.attrs["HostConfig"]["PortBindings"]["6443/tcp"] = binding

    def reload(self) -> None:
        pass

    def update(self, restart_policy: dict[str, Any]) -> None:
        self.restart_policy = restart_policy

    def stop(self, timeout: int) -> None:
        self.events.append(f"stop {self.name}")
        self.status = "exited"
        self.attrs["NetworkSettings"]["Networks"]["lab"]["IPAddress"] = ""
        self.attrs["NetworkSettings"]["Ports"] = {}

    def start(self, at: str | None = None) -> None:
        if self.refusal:
            raise docker.errors.APIError(self.refusal)
        self.events.append(f"start {self.name}")
        self.status = "running"
        network = self.attrs["NetworkSettings"]["Networks"]["lab"]
        network["IPAddress"] = network["IPAMConfig"]["IPv4Address"]
        self.attrs["NetworkSettings"]["Ports"] = self.attrs["HostConfig"]["PortBindings"]


@pytest.fixture
def lab(tmp_path, monkeypatch) -> Lab:
    monkeypatch.setenv("LABKIT_STATE_DIR", str(tmp_path))
    events: list[str] = []

    def run(node: Node, command: list[str], **_: Any) -> ExecResult:
        events.append(f"exec {node.name}: {command[-1]}")
        return ExecResult(tuple(command), 0, "", "")

    monkeypatch.setattr(Node, "exec", run)
    # One control plane: no load balancer (tests that want one set `lab.balancer`).
    monkeypatch.setattr(Lab, "load_balancer", property(lambda lab: getattr(lab, "balancer", None)))
    monkeypatch.setattr(Lab, "registry", property(lambda lab: getattr(lab, "the_registry", None)))
    nodes = [
        Node(name, role, FakeContainer(name, events, "running", address))  # type: ignore[arg-type]
        for name, role, address in (
            ("lab-control-plane", "control-plane", "10.201.7.2"),
            ("lab-worker", "worker", "10.201.7.3"),
            ("lab-worker2", "worker", "10.201.7.4"),
        )
    ]
    nodes[0].container.publish(24000)
    return Lab("lab", None, nodes)  # type: ignore[arg-type]


def events(lab: Lab) -> list[str]:
    return lab.nodes[0].container.events


def quiet() -> Progress:
    return Progress(quiet=True)


def start_nodes(lab: Lab) -> None:
    steps = [s for s in START_STEPS if s.name in ("start control plane", "start workers")]
    run_steps(steps, Restart(lab=lab, progress=quiet()), quiet())


def test_stop_stops_the_workers_before_the_control_plane(lab: Lab) -> None:
    result = stop_lab(lab, progress=quiet())
    assert sorted(events(lab)[:2]) == ["stop lab-worker", "stop lab-worker2"]
    assert events(lab)[-1] == "stop lab-control-plane"
    assert sorted(result.acted_on) == ["lab-control-plane", "lab-worker", "lab-worker2"]


def test_the_api_server_goes_before_the_control_plane_node(lab: Lab) -> None:
    stop_lab(lab, progress=quiet())
    stopped_first = events(lab)[-2]
    assert stopped_first.startswith("exec lab-control-plane: systemctl stop kubelet && ")
    assert "crictl stop --timeout 0" in stopped_first


def test_a_lab_stopped_stays_stopped_when_docker_starts_and_start_restores_that(lab: Lab) -> None:
    stop_lab(lab, progress=quiet())
    assert {n.container.restart_policy["Name"] for n in lab.nodes} == {"no"}
    start_nodes(lab)
    assert all(n.container.restart_policy == RESTART_POLICY for n in lab.nodes)


def with_load_balancer(lab: Lab) -> Node:
    events = lab.nodes[0].container.events
    container = FakeContainer("lab-load-balancer", events, "running", "10.201.7.5")
    container.restart_policy = dict(LOAD_BALANCER_RESTART)
    balancer = Node("lab-load-balancer", ROLE_LOAD_BALANCER, container)  # type: ignore[arg-type]
    lab.balancer = balancer  # type: ignore[attr-defined]
    return balancer


def test_the_load_balancer_stops_last_and_starts_first_keeping_its_policy(lab: Lab) -> None:
    balancer = with_load_balancer(lab)
    stop_lab(lab, progress=quiet())
    assert events(lab)[-1] == "stop lab-load-balancer"
    assert balancer.container.restart_policy == {"Name": "no"}
    events(lab).clear()
    steps = [s for s in START_STEPS if s.name.startswith("start ")]
    run_steps(steps, Restart(lab=lab, progress=quiet()), quiet())
    assert events(lab)[0] == "start lab-load-balancer"
    assert balancer.container.restart_policy == LOAD_BALANCER_RESTART
    assert all(n.container.restart_policy == RESTART_POLICY for n in lab.nodes)


def test_the_registry_stops_after_every_node_and_starts_before_them(lab: Lab) -> None:
    """Nodes pull through it: it is the last to go and the first back, with its policy."""
    balancer = with_load_balancer(lab)
    container = FakeContainer("lab-registry", events(lab), "running", "10.201.7.6")
    container.restart_policy = dict(REGISTRY_RESTART)
    lab.the_registry = Node("lab-registry", ROLE_REGISTRY, container)  # type: ignore[attr-defined]
    stop_lab(lab, progress=quiet())
    assert events(lab)[-2:] == ["stop lab-load-balancer", "stop lab-registry"]
    assert container.restart_policy == {"Name": "no"}
    events(lab).clear()
    steps = [s for s in START_STEPS if s.name.startswith("start ")]
    run_steps(steps, Restart(lab=lab, progress=quiet()), quiet())
    assert events(lab)[:2] == ["start lab-registry", "start lab-load-balancer"]
    assert container.restart_policy == REGISTRY_RESTART == {"Name": "unless-stopped"}
    assert balancer.container.restart_policy == LOAD_BALANCER_RESTART


def test_stopping_a_stopped_lab_does_nothing(lab: Lab) -> None:
    for node in lab.nodes:
        node.container.status = "exited"
    assert stop_lab(lab, progress=quiet()).acted_on == []
    assert events(lab) == []


def test_start_starts_the_control_plane_first_and_only_what_is_stopped(lab: Lab) -> None:
    lab.nodes[0].container.status = "exited"
    lab.nodes[2].container.status = "exited"
    start_nodes(lab)
    assert events(lab) == ["start lab-control-plane", "start lab-worker2"]


def test_a_taken_api_port_is_named_with_what_to_do(lab: Lab) -> None:
    control_plane = lab.nodes[0].container
    control_plane.status = "exited"
    control_plane.refusal = "Bind for 127.0.0.1:24000 failed: port is already allocated"
    with pytest.raises(StepFailed) as failure:
        start_nodes(lab)
    message = str(failure.value)
    assert "127.0.0.1:24000, the lab's API port, is taken" in message
    assert "ss -ltnp 'sport = :24000'" in message
    assert "labkit lab start lab" in message


def check_addresses(lab: Lab) -> None:
    lifecycle.check_addresses(Restart(lab=lab, progress=quiet()))


def test_addresses_as_made_pass(lab: Lab) -> None:
    for node in lab.nodes:
        node.container.status = "exited"
    start_nodes(lab)
    check_addresses(lab)


def test_a_node_at_another_address_than_recorded_fails_naming_it(lab: Lab) -> None:
    LabState("lab").create()
    record = {n.name: n.fixed_address() or "" for n in lab.nodes}
    LabState("lab").save_addresses(
        LabAddresses("10.201.7.0/24", {**record, "lab-worker": "10.201.7.9"}, 24000)
    )
    for node in lab.nodes:
        node.container.status = "exited"
    start_nodes(lab)
    with pytest.raises(StepFailed, match=r"lab-worker is at 10\.201\.7\.3, made at 10\.201\.7\.9"):
        check_addresses(lab)


def pod(node: str, started: datetime | None, ready: bool = True) -> k8s.V1Pod:
    running = k8s.V1ContainerStateRunning(started_at=started) if started else None
    status = k8s.V1ContainerStatus(
        name="c",
        image="i",
        image_id="",
        ready=ready,
        restart_count=0,
        state=k8s.V1ContainerState(running=running),
    )
    return k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(name=f"p-{node}"),
        spec=k8s.V1PodSpec(node_name=node, containers=[]),
        status=k8s.V1PodStatus(phase="Running", container_statuses=[status]),
    )


@pytest.fixture
def listed(monkeypatch) -> list[Any]:
    """What the fake API lists: wait_until answers at once from it."""
    objects: list[Any] = []
    monkeypatch.setattr(
        lifecycle.waits, "wait_until", lambda call, satisfied, timeout, **_: satisfied(objects)
    )
    return objects


def test_pods_whose_containers_started_before_their_node_are_stale(listed) -> None:
    listed += [pod("lab-worker", STARTED + timedelta(seconds=9)), pod("lab-worker2", STARTED)]
    started = {"lab-worker": STARTED, "lab-worker2": STARTED + timedelta(seconds=1)}
    assert not lifecycle.pods_restarted(None, started, 1)  # type: ignore[arg-type]
    assert lifecycle.pods_restarted(None, {"lab-worker": STARTED}, 1)  # type: ignore[arg-type]


def test_a_restarted_pod_not_ready_yet_is_waited_for(listed) -> None:
    listed.append(pod("lab-worker", STARTED + timedelta(seconds=9), ready=False))
    assert not lifecycle.pods_restarted(None, {"lab-worker": STARTED}, 1)  # type: ignore[arg-type]


def node_heartbeat(name: str, beat: datetime) -> k8s.V1Node:
    ready = k8s.V1NodeCondition(type="Ready", status="True", last_heartbeat_time=beat)
    return k8s.V1Node(
        metadata=k8s.V1ObjectMeta(name=name), status=k8s.V1NodeStatus(conditions=[ready])
    )


def test_a_kubelet_that_has_not_reported_since_its_start_is_waited_for(listed) -> None:
    listed += [node_heartbeat("lab-control-plane", STARTED - timedelta(seconds=30))]
    started = {"lab-control-plane": STARTED}
    assert not lifecycle.kubelets_reported(None, started, 1)  # type: ignore[arg-type]
    listed[0] = node_heartbeat("lab-control-plane", STARTED + timedelta(seconds=4))
    assert lifecycle.kubelets_reported(None, started, 1)  # type: ignore[arg-type]


def test_a_node_started_at_is_read_to_the_second() -> None:
    node = Node(
        "n",
        "worker",
        SimpleNamespace(attrs={"State": {"StartedAt": "2026-12-02T10:00:00.987654321Z"}}),
    )  # type: ignore[arg-type]
    assert lifecycle._started_at(node) == STARTED
