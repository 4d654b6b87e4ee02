"""A lab's addresses are chosen once: each node's on the lab network, the API server's port
on the host. No Docker here: fakes stand in for the engine and the host's ports."""

from __future__ import annotations

import ipaddress
import random
from types import SimpleNamespace
from typing import Any

import docker.errors
import pytest

from labkit.errors import LabkitError, StepFailed
from labkit.lab import network, node
from labkit.lab.network import (
    HOST_PORT_RANGE,
    LabAddresses,
    bound_host_ports,
    free_host_port,
    node_addresses,
)
from labkit.lab.node import Node, create_node
from labkit.naming import LABEL_LAB

SUBNET = ipaddress.ip_network("10.201.7.0/24")
# Linux's default ip_local_port_range.
EPHEMERAL = range(32768, 61000)


def test_nodes_get_addresses_after_the_gateway_in_the_order_given() -> None:
    addresses = node_addresses(SUBNET, ["lab-control-plane", "lab-worker", "lab-worker2"])
    assert addresses == {
        "lab-control-plane": "10.201.7.2",
        "lab-worker": "10.201.7.3",
        "lab-worker2": "10.201.7.4",
    }


def test_node_addresses_stay_out_of_the_range_docker_hands_out(monkeypatch) -> None:
    monkeypatch.setattr(network.subprocess, "run", lambda *a, **k: SimpleNamespace(stdout=""))
    created: dict[str, Any] = {}

    def create(name: str, **kwargs: Any) -> None:
        created.update(kwargs["ipam"]["Config"][0])

    client = SimpleNamespace(networks=SimpleNamespace(list=lambda: [], create=create))
    network.create_network(client, "lab")
    subnet = ipaddress.ip_network(created["Subnet"])
    dynamic = ipaddress.ip_network(created["IPRange"])
    addresses = node_addresses(subnet, [f"node{i}" for i in range(11)]).values()
    assert created["Gateway"] == str(next(subnet.hosts()))
    assert dynamic.subnet_of(subnet)
    assert not any(ipaddress.ip_address(a) in dynamic for a in addresses)
    assert created["Gateway"] not in addresses


def test_more_nodes_than_fixed_addresses_are_refused() -> None:
    with pytest.raises(LabkitError, match="do not fit"):
        node_addresses(ipaddress.ip_network("10.201.7.0/28"), [f"n{i}" for i in range(7)])


def test_the_api_port_is_outside_the_ephemeral_range_and_free() -> None:
    busy = set(range(20000, 25000))
    port = free_host_port(is_free=lambda p: p not in busy, ephemeral=EPHEMERAL)
    assert port in HOST_PORT_RANGE
    assert port not in EPHEMERAL
    assert port not in busy


def test_ports_other_containers_keep_are_not_chosen() -> None:
    taken = set(range(20000, 32767))  # all but 32767 of the range
    assert free_host_port(taken, is_free=lambda p: True, ephemeral=EPHEMERAL) == 32767


def test_the_range_follows_the_hosts_ephemeral_range() -> None:
    port = free_host_port(is_free=lambda p: True, ephemeral=range(20000, 32000))
    assert 32000 <= port < 32768


def test_parallel_choices_are_random_not_the_first_free_port() -> None:
    chosen = {
        free_host_port(is_free=lambda p: True, ephemeral=EPHEMERAL, rng=random.Random(seed))
        for seed in range(5)
    }
    assert len(chosen) > 1


def test_no_free_port_says_what_to_do() -> None:
    with pytest.raises(LabkitError, match=r"no free port on 127\.0\.0\.1.*labkit lab down"):
        free_host_port(is_free=lambda p: False, ephemeral=EPHEMERAL)


def container_with(port_bindings: dict[str, Any] | None) -> SimpleNamespace:
    return SimpleNamespace(attrs={"HostConfig": {"PortBindings": port_bindings}})


def test_ports_of_stopped_containers_count_as_bound() -> None:
    containers = [
        container_with({"6443/tcp": [{"HostIp": "127.0.0.1", "HostPort": "24001"}]}),
        container_with({"80/tcp": [{"HostIp": "", "HostPort": ""}]}),  # Docker picks one
        container_with(None),
    ]
    client = SimpleNamespace(
        containers=SimpleNamespace(list=lambda all, ignore_removed: containers)
    )
    assert bound_host_ports(client) == {24001}


class FakeDocker:
    """Just what create_node asks of Docker; refuses the first `refusals` ports."""

    def __init__(self, refusals: int = 0) -> None:
        self.refusals = refusals
        self.runs: list[dict[str, Any]] = []
        self.removed: list[str] = []
        self.volumes = SimpleNamespace(create=lambda name, labels: SimpleNamespace(name=name))
        self.api = SimpleNamespace(
            create_endpoint_config=lambda ipv4_address: {
                "IPAMConfig": {"IPv4Address": ipv4_address}
            }
        )
        self.containers = SimpleNamespace(run=self.run, get=self.get, list=lambda **_: [])

    def run(self, image: str, **settings: Any) -> SimpleNamespace:
        self.runs.append(settings)
        if self.refusals:
            self.refusals -= 1
            raise docker.errors.APIError(
                "driver failed programming external connectivity on endpoint x: "
                "Bind for 127.0.0.1:1 failed: port is already allocated"
            )
        return SimpleNamespace(name=settings["name"])

    def get(self, name: str) -> SimpleNamespace:
        return SimpleNamespace(remove=lambda force: self.removed.append(name))


def make(client: FakeDocker, role: str, address: str | None = "10.201.7.2") -> Node:
    return create_node(
        client,  # type: ignore[arg-type]
        lab="lab",
        name=f"lab-{role}",
        role=role,
        image="labkit/node:v1.37.2",
        network="lab",
        runtime=None,
        address=address,
    )


@pytest.fixture
def ports(monkeypatch) -> list[int]:
    """The ports create_node is handed, one a call."""
    handed: list[int] = []

    def free(taken: Any = ()) -> int:
        handed.append(24000 + len(handed))
        return handed[-1]

    monkeypatch.setattr(node, "free_host_port", free)
    return handed


def test_the_control_plane_binds_the_chosen_port_on_loopback_at_its_address(ports) -> None:
    client = FakeDocker()
    make(client, "control-plane")
    (settings,) = client.runs
    assert settings["ports"] == {"6443/tcp": ("127.0.0.1", 24000)}
    assert settings["networking_config"] == {"lab": {"IPAMConfig": {"IPv4Address": "10.201.7.2"}}}


def test_a_worker_publishes_nothing(ports) -> None:
    client = FakeDocker()
    make(client, "worker", "10.201.7.3")
    assert "ports" not in client.runs[0]
    assert ports == []


def test_a_port_taken_meanwhile_is_replaced_by_another(ports) -> None:
    client = FakeDocker(refusals=2)
    made = make(client, "control-plane")
    assert made.name == "lab-control-plane"
    assert [s["ports"]["6443/tcp"][1] for s in client.runs] == [24000, 24001, 24002]
    assert client.removed == ["lab-control-plane", "lab-control-plane"]


def test_ports_refused_every_time_fail_naming_them(ports) -> None:
    with pytest.raises(StepFailed, match="24000, 24001, 24002, 24003, 24004"):
        make(FakeDocker(refusals=99), "control-plane")


def inspected(endpoint: dict[str, Any], port_bindings: dict[str, Any]) -> Node:
    container = SimpleNamespace(
        labels={LABEL_LAB: "lab"},
        reload=lambda: None,
        attrs={
            "NetworkSettings": {"Networks": {"lab": endpoint}},
            "HostConfig": {"PortBindings": port_bindings},
        },
    )
    return Node("lab-control-plane", "control-plane", container)  # type: ignore[arg-type]


def test_a_stopped_node_still_tells_its_fixed_address_and_port() -> None:
    made = inspected(
        {"IPAMConfig": {"IPv4Address": "10.201.7.2"}, "IPAddress": ""},
        {"6443/tcp": [{"HostIp": "127.0.0.1", "HostPort": "24000"}]},
    )
    assert (made.fixed_address(), made.fixed_api_port()) == ("10.201.7.2", 24000)


def test_a_node_of_an_older_lab_has_neither() -> None:
    made = inspected(
        {"IPAMConfig": None, "IPAddress": "10.201.7.3"},
        {"6443/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]},
    )
    assert (made.fixed_address(), made.fixed_api_port()) == (None, None)


def test_the_lab_state_keeps_the_addresses_as_chosen() -> None:
    addresses = LabAddresses("10.201.7.0/24", {"lab-control-plane": "10.201.7.2"}, 24000)
    assert LabAddresses.from_dict(addresses.to_dict()) == addresses
