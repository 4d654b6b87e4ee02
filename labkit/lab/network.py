"""The per-lab Docker network, on a private subnet that nothing else on the host uses, and
the addresses a lab keeps for its life: each node's on that network and the API server's
port on the host, both fixed when the lab is created so that restarts keep them.

    subnet = lab_subnet(client, create_network(client, "demo"))
    node_addresses(subnet, ["demo-control-plane", "demo-worker"])
    # {'demo-control-plane': '10.201.0.2', 'demo-worker': '10.201.0.3'}
"""

from __future__ import annotations

import ipaddress
import random
import re
import socket
import subprocess
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors
from docker.types import IPAMConfig, IPAMPool

from labkit.constants import SUBNET_POOL
from labkit.errors import LabkitError
from labkit.naming import LABEL_LAB, managed_labels

SUBNET_PREFIX = 24


def used_subnets(client: docker.DockerClient) -> list[ipaddress.IPv4Network]:
    used = []
    for network in client.networks.list():
        for pool in (network.attrs.get("IPAM") or {}).get("Config") or []:
            if "Subnet" in pool and ":" not in pool["Subnet"]:
                used.append(ipaddress.ip_network(pool["Subnet"], strict=False))
    routes = subprocess.run(["ip", "-4", "route", "show"], capture_output=True, text=True).stdout
    for line in routes.splitlines():
        destination = line.split()[0] if line else ""
        if "/" in destination:
            used.append(ipaddress.ip_network(destination, strict=False))
    return used


def free_subnet(
    client: docker.DockerClient, avoid: tuple[ipaddress.IPv4Network, ...] = ()
) -> ipaddress.IPv4Network:
    used = [*used_subnets(client), *avoid]
    for candidate in SUBNET_POOL.subnets(new_prefix=SUBNET_PREFIX):
        if not any(candidate.overlaps(other) for other in used):
            return candidate
    raise LabkitError(
        f"no free /{SUBNET_PREFIX} left in {SUBNET_POOL} for a lab network; "
        "remove old labs with `labkit lab prune`"
    )


def create_network(
    client: docker.DockerClient, lab: str, avoid: tuple[ipaddress.IPv4Network, ...] = ()
) -> str:
    """Create the lab's bridge network. A parallel bring-up may hold a subnet that is not
    listed yet (Docker reserves the pool first), so a subnet refused as overlapping is
    skipped on the next try instead of being picked again."""
    refused: list[ipaddress.IPv4Network] = []
    for _ in range(5):
        subnet = free_subnet(client, (*avoid, *refused))
        try:
            client.networks.create(
                lab,
                driver="bridge",
                labels=managed_labels(**{LABEL_LAB: lab}),
                ipam=IPAMConfig(pool_configs=[_pool(subnet)]),
                options={"com.docker.network.bridge.enable_ip_masquerade": "true"},
                # A 409 for a name taken, where Docker would otherwise make a second network
                # of it.
                check_duplicate=True,
            )
            return lab
        except docker.errors.APIError as error:
            if "overlaps" not in str(error):
                raise
            refused.append(subnet)
    raise LabkitError(f"could not find a free subnet for network {lab!r} after 5 tries")


def _pool(subnet: ipaddress.IPv4Network) -> IPAMPool:
    # Docker hands out addresses only from the upper half (ip_range): a container attached
    # to the lab network later never takes a node's fixed address, not even while that node
    # is stopped (a stopped container holds none).
    _, dynamic = subnet.subnets(prefixlen_diff=1)
    return IPAMPool(subnet=str(subnet), gateway=str(_gateway(subnet)), iprange=str(dynamic))


def _gateway(subnet: ipaddress.IPv4Network) -> ipaddress.IPv4Address:
    return next(subnet.hosts())


def lab_subnet(client: docker.DockerClient, network: str) -> ipaddress.IPv4Network:
    pools = client.networks.get(network).attrs["IPAM"]["Config"] or []
    subnets = [p["Subnet"] for p in pools if ":" not in p.get("Subnet", ":")]
    if not subnets:
        raise LabkitError(f"network {network!r} has no IPv4 subnet; remove it and bring the lab up")
    return ipaddress.ip_network(subnets[0])


def node_addresses(subnet: ipaddress.IPv4Network, nodes: Sequence[str]) -> dict[str, str]:
    """Each node's fixed address, in the order given (control plane first), from the lower
    half of the subnet after the gateway: .2, .3, ..."""
    fixed, _ = subnet.subnets(prefixlen_diff=1)
    hosts = [address for address in fixed.hosts() if address != _gateway(subnet)]
    if len(nodes) > len(hosts):
        raise LabkitError(
            f"{len(nodes)} nodes do not fit the {len(hosts)} fixed addresses of {subnet}; "
            "use fewer workers"
        )
    return {name: str(address) for name, address in zip(nodes, hosts, strict=False)}


# The API server's host port comes from here, below Linux's ephemeral range (32768-60999 by
# default), from which outgoing connections and Docker's random host ports are drawn: so
# neither takes it while the lab is stopped and nothing listens on it.
HOST_PORT_RANGE = range(20000, 32768)
# Ports tried, at random, before giving up: random so that labs brought up at the same
# moment rarely pick the same one (Docker refuses the second; create_node then retries).
HOST_PORT_TRIES = 64
_EPHEMERAL_PORTS = Path("/proc/sys/net/ipv4/ip_local_port_range")
# Docker's refusal to create or start a container whose host port is taken.
PORT_TAKEN = re.compile(r"port is already allocated|address already in use", re.IGNORECASE)


def ephemeral_ports() -> range:
    try:
        low, high = (int(word) for word in _EPHEMERAL_PORTS.read_text().split())
    except (OSError, ValueError):
        return range(32768, 61000)
    return range(low, high + 1)


def port_is_free(port: int) -> bool:
    """Nothing is bound to the port on the host's loopback (nor on every address)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def bound_host_ports(client: docker.DockerClient) -> set[int]:
    """Host ports that containers publish, or will when started again: a stopped lab's
    control plane keeps its API port though nothing listens on it."""
    ports = set()
    for container in client.containers.list(all=True, ignore_removed=True):
        bindings = (container.attrs.get("HostConfig") or {}).get("PortBindings") or {}
        for binds in bindings.values():
            ports |= {int(b["HostPort"]) for b in binds or [] if b.get("HostPort", "").isdigit()}
    return ports


def free_host_port(
    taken: Collection[int] = (),
    *,
    is_free: Callable[[int], bool] = port_is_free,
    ephemeral: range | None = None,
    rng: random.Random | None = None,
) -> int:
    """A port of HOST_PORT_RANGE, outside the ephemeral range and `taken`, that nothing
    is bound to on 127.0.0.1."""
    ephemeral = ephemeral_ports() if ephemeral is None else ephemeral
    candidates = [p for p in HOST_PORT_RANGE if p not in ephemeral and p not in taken]
    tried = (rng or random.Random()).sample(candidates, min(HOST_PORT_TRIES, len(candidates)))
    for port in tried:
        if is_free(port):
            return port
    raise LabkitError(
        f"no free port on 127.0.0.1 for the lab's API server: {len(tried)} tried at random "
        f"in {HOST_PORT_RANGE.start}-{HOST_PORT_RANGE.stop - 1}, outside the ephemeral range "
        f"{ephemeral.start}-{ephemeral.stop - 1}; stop what listens there, or remove "
        "stopped labs (`labkit lab list`, `labkit lab down NAME`)"
    )


@dataclass(frozen=True)
class LabAddresses:
    """What a lab keeps from its creation to its removal: each node's address on the lab
    network and the API server's port on 127.0.0.1. Docker holds them in the containers'
    config; the lab's state holds them too, so that `lab start` can tell one that moved."""

    subnet: str
    nodes: Mapping[str, str]
    api_port: int

    def to_dict(self) -> dict[str, Any]:
        return {"subnet": self.subnet, "nodes": dict(self.nodes), "api_port": self.api_port}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LabAddresses:
        return cls(str(data["subnet"]), dict(data["nodes"]), int(data["api_port"]))
