"""What every bring-up step works on (as kind's `actions.ActionContext`): the spec, the
Docker client, and what the steps before it made. The steps live in their own modules
(`bringup`, `joining`, `node_limits`, `node_releases`) and all take a `BringUp`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import docker
from kubernetes import client as k8s

from labkit.constants import KUBEADM_BRINGUP_TIMEOUT
from labkit.kubeadm import BootstrapToken
from labkit.kubeadm.config import generate_certificate_key
from labkit.lab.evidence import kubeadm_failed
from labkit.lab.model import LabModel
from labkit.lab.network import LabAddresses
from labkit.lab.node import ExecFailed, Node
from labkit.pipeline import Progress
from labkit.spec import LabSpec

# Called after each `kubeadm init phase` with the phase name and the control-plane node.
PhaseCallback = Callable[[str, Node], None]


@dataclass
class BringUp:
    spec: LabSpec
    client: docker.DockerClient
    progress: Progress
    on_phase: PhaseCallback | None = None
    runtime: str | None = None
    # Set before the first resource is made: a failure from then on leaves something to remove.
    created: bool = False
    network: str = ""
    nodes: list[Node] = field(default_factory=list)
    addresses: LabAddresses | None = None
    load_balancer: Node | None = None
    registry: Node | None = None
    # What the lab's registry starts from: the release's content image, or the empty one.
    registry_image: str = ""
    token: BootstrapToken = field(default_factory=BootstrapToken.generate)
    # Encrypts the shared keys in the kubeadm-certs Secret (several control planes only).
    certificate_key: str = field(default_factory=generate_certificate_key)
    ca_cert_hash: str = ""
    api: k8s.ApiClient | None = None
    init_output: str = ""

    @property
    def lab(self) -> LabModel:
        """The lab as far as it is made: the nodes created so far."""
        return LabModel(self.spec.name, self.client, self.nodes)

    @property
    def control_plane(self) -> Node:
        return self.lab.control_plane

    @property
    def joining_control_planes(self) -> list[Node]:
        return self.lab.control_planes[1:]

    @property
    def workers(self) -> list[Node]:
        return self.lab.workers

    @property
    def api_front(self) -> Node:
        """The container publishing the API on the host: the load balancer, if any."""
        return self.load_balancer or self.control_plane

    def run_kubeadm(self, node: Node, args: Sequence[str], *, operation: str) -> str:
        """kubeadm on `node`, its output streamed as progress detail; a failure carries
        kubeadm's output and the node's journals."""
        try:
            result = node.exec(
                ["kubeadm", *args], timeout=KUBEADM_BRINGUP_TIMEOUT, on_line=self.progress.detail
            )
        except ExecFailed as failure:
            raise kubeadm_failed(node, operation, failure) from failure
        return result.stdout + result.stderr
