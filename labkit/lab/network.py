"""The per-lab Docker network, on a private subnet that nothing else on the host uses."""

from __future__ import annotations

import ipaddress
import subprocess

import docker
import docker.errors
from docker.types import IPAMConfig, IPAMPool

from labkit.errors import LabkitError
from labkit.naming import LABEL_LAB, managed_labels

# Lab networks are /24s carved from here: clear of Docker's default pools (172.17-31),
# kind's 172.18, and the pod and service subnets labs use (10.244/16, 10.96/12).
SUBNET_POOL = ipaddress.ip_network("10.201.0.0/16")
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
                ipam=IPAMConfig(pool_configs=[IPAMPool(subnet=str(subnet))]),
                options={"com.docker.network.bridge.enable_ip_masquerade": "true"},
            )
            return lab
        except docker.errors.APIError as error:
            if "overlaps" not in str(error):
                raise
            refused.append(subnet)
    raise LabkitError(f"could not find a free subnet for network {lab!r} after 5 tries")
