"""A lab: the containers, network, volumes and state of one cluster, found by labels."""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from labkit.errors import LabkitError
from labkit.lab.network import LabAddresses
from labkit.lab.node import Node, find_nodes, remove_quietly
from labkit.naming import LABEL_LAB, LABEL_MANAGED, state_dir

# In a lab's state directory: its fixed addresses (LabAddresses), as `lab up` chose them.
ADDRESSES_FILE = "addresses.json"


def lab_state_dir(name: str) -> Path:
    return state_dir() / "labs" / name


def save_addresses(name: str, addresses: LabAddresses) -> None:
    path = lab_state_dir(name) / ADDRESSES_FILE
    path.write_text(json.dumps(addresses.to_dict(), indent=2))


@dataclass
class Lab:
    name: str
    client: docker.DockerClient
    nodes: list[Node]

    @classmethod
    def find(cls, client: docker.DockerClient, name: str) -> Lab:
        nodes = find_nodes(client, name)
        if not nodes:
            known = ", ".join(list_labs(client)) or "none"
            raise LabkitError(f"no lab named {name!r} (labs: {known})")
        return cls(name, client, nodes)

    @property
    def state_dir(self) -> Path:
        return lab_state_dir(self.name)

    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / "kubeconfig"

    @property
    def control_plane(self) -> Node:
        return next(n for n in self.nodes if n.is_control_plane)

    @property
    def control_planes(self) -> list[Node]:
        return [n for n in self.nodes if n.is_control_plane]

    @property
    def workers(self) -> list[Node]:
        return [n for n in self.nodes if not n.is_control_plane]

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name in (name, f"{self.name}-{name}"):
                return node
        names = ", ".join(n.name for n in self.nodes)
        raise LabkitError(f"lab {self.name!r} has no node {name!r} (nodes: {names})")

    def api_client(self) -> k8s.ApiClient:
        """A client of this lab's API only: never the process-wide kubeconfig."""
        if not self.kubeconfig.exists():
            raise LabkitError(
                f"lab {self.name!r} has no kubeconfig at {self.kubeconfig}; "
                "was it brought up by this user?"
            )
        data = yaml.safe_load(self.kubeconfig.read_text())
        return k8s_config.new_client_from_config_dict(data)

    def addresses(self) -> LabAddresses | None:
        """The addresses fixed when the lab was created; None for a lab made before labkit
        fixed them."""
        path = self.state_dir / ADDRESSES_FILE
        return LabAddresses.from_dict(json.loads(path.read_text())) if path.exists() else None

    def bringup_record(self) -> dict:
        path = self.state_dir / "bringup.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def down(self) -> None:
        delete_lab(self.client, self.name)


def host_kubeconfig(admin_conf: bytes, api_port: int) -> dict:
    """kubeadm's admin.conf pointed at the API port published on the host's loopback (the
    apiserver certificate carries 127.0.0.1: the bring-up adds it to certSANs)."""
    admin = yaml.safe_load(admin_conf)
    for cluster in admin["clusters"]:
        cluster["cluster"]["server"] = f"https://127.0.0.1:{api_port}"
    return admin


def list_labs(client: docker.DockerClient) -> list[str]:
    # The low-level list: no per-container inspect that fails when another run removes
    # one of its containers between the listing and the inspect.
    names = {
        c["Labels"][LABEL_LAB]
        for c in client.api.containers(all=True, filters={"label": LABEL_LAB})
        if c["Labels"].get(LABEL_LAB)
    }
    names |= {
        n.attrs["Labels"][LABEL_LAB] for n in client.networks.list(filters={"label": LABEL_LAB})
    }
    return sorted(names)


def delete_lab(client: docker.DockerClient, name: str) -> None:
    """Remove everything labelled with this lab: containers, then volumes and network."""
    selector = {"label": f"{LABEL_LAB}={name}"}
    containers = client.containers.list(all=True, filters=selector)
    with ThreadPoolExecutor(max_workers=max(1, len(containers))) as pool:
        list(pool.map(lambda c: remove_quietly(lambda: c.remove(force=True, v=True)), containers))
    for volume in client.volumes.list(filters=selector):
        remove_quietly(volume.remove)
    for network in client.networks.list(filters=selector):
        remove_quietly(network.remove)
    shutil.rmtree(lab_state_dir(name), ignore_errors=True)


def prune(client: docker.DockerClient) -> dict[str, int]:
    """Remove every container, volume and network labkit labelled, of any lab or build."""
    selector = {"label": f"{LABEL_MANAGED}=true"}
    removed = {"containers": 0, "volumes": 0, "networks": 0}
    for container in client.containers.list(all=True, filters=selector):
        remove_quietly(lambda c=container: c.remove(force=True, v=True))
        removed["containers"] += 1
    for volume in client.volumes.list(filters=selector):
        remove_quietly(volume.remove)
        removed["volumes"] += 1
    for network in client.networks.list(filters=selector):
        remove_quietly(network.remove)
        removed["networks"] += 1
    labs_dir = state_dir() / "labs"
    if labs_dir.exists():
        for lab_dir in labs_dir.iterdir():
            shutil.rmtree(lab_dir, ignore_errors=True)
    return removed
