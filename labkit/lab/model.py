"""A lab as labkit finds it: its containers by label, their roles, its API and its state on
the host. What labkit does to a lab (bring-up, restarts, upgrades, checks, diagnosis,
suites) takes a `LabModel`; the public `labkit.Lab` adds those verbs on top of it.

    lab = LabModel.find(docker_client(), "demo")
    lab.control_plane.exec(["crictl", "ps"])
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Self

import docker
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from labkit.constants import ROLE_LOAD_BALANCER, ROLE_REGISTRY
from labkit.errors import LabkitError, shown
from labkit.lab.network import LabAddresses
from labkit.lab.node import Node, find_by_role, find_nodes
from labkit.lab.removal import remove_labelled
from labkit.lab.state import LabState, remove_every_lab_state
from labkit.naming import LABEL_LAB, LABEL_MANAGED


@dataclass
class LabModel:
    name: str
    client: docker.DockerClient
    nodes: list[Node]

    @classmethod
    def find(cls, client: docker.DockerClient, name: str) -> Self:
        nodes = find_nodes(client, name)
        if not nodes:
            known = ", ".join(list_labs(client)) or "none"
            raise LabkitError(f"no lab named {shown(name)} (labs: {known})")
        return cls(name, client, nodes)

    @property
    def state(self) -> LabState:
        return LabState(self.name)

    @property
    def state_dir(self) -> Path:
        return self.state.directory

    @property
    def kubeconfig(self) -> Path:
        return self.state.kubeconfig

    @property
    def control_plane(self) -> Node:
        return next(n for n in self.nodes if n.is_control_plane)

    @property
    def control_planes(self) -> list[Node]:
        return [n for n in self.nodes if n.is_control_plane]

    @property
    def workers(self) -> list[Node]:
        return [n for n in self.nodes if not n.is_control_plane]

    def running_control_plane(self) -> Node:
        """The first control plane whose container runs (with several, any serves the
        API); the first control plane when none does, for its error to say so."""
        for node in self.control_planes:
            node.container.reload()
            if node.container.status == "running":
                return node
        return self.control_plane

    @property
    def load_balancer(self) -> Node | None:
        """The container in front of several control planes; None with one."""
        return find_by_role(self.client, self.name, ROLE_LOAD_BALANCER)

    @property
    def registry(self) -> Node | None:
        """The lab's image registry; None with `registry: none`."""
        return find_by_role(self.client, self.name, ROLE_REGISTRY)

    @property
    def containers(self) -> list[Node]:
        """The nodes, then the load balancer and the registry if there are: every container
        of the lab."""
        others = [self.load_balancer, self.registry]
        return [*self.nodes, *(node for node in others if node)]

    @property
    def api_front(self) -> Node:
        """The container publishing the API on the host: the load balancer, if any."""
        return self.load_balancer or self.control_plane

    def node(self, name: str | Node) -> Node:
        """A node by its name, with or without the lab's prefix (`worker`, `demo-worker`)."""
        if isinstance(name, Node):
            return name
        for node in self.nodes:
            if node.name in (name, f"{self.name}-{name}"):
                return node
        names = ", ".join(n.name for n in self.nodes)
        raise LabkitError(f"lab {self.name!r} has no node {shown(name)} (nodes: {names})")

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
        return self.state.addresses()

    def bringup_record(self) -> dict:
        return self.state.bringup_record()

    def down(self) -> None:
        delete_lab(self.client, self.name)


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
    remove_labelled(client, f"{LABEL_LAB}={name}")
    LabState(name).remove()


def prune(client: docker.DockerClient) -> dict[str, int]:
    """Remove every container, volume and network labkit labelled, of any lab or build."""
    removed = remove_labelled(client, f"{LABEL_MANAGED}=true")
    remove_every_lab_state()
    return removed
