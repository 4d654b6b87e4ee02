"""The lab spec's types: what a user asks for once it is validated, and its defaults.

Every value here has passed `labkit.spec.parse`; build one with `LabSpec.from_file` or
`LabSpec.from_dict`.

>>> spec = LabSpec.from_dict({"name": "demo", "workers": 2})
>>> [node.name for node in spec.node_names()]
['demo-control-plane', 'demo-worker', 'demo-worker2']
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from labkit.constants import (
    API_SERVER_PORT,
    ROLE_CONTROL_PLANE,
    ROLE_LOAD_BALANCER,
    ROLE_REGISTRY,
    ROLE_WORKER,
)
from labkit.spec.fields import cut
from labkit.versions import DEFAULT_VERSION, KubernetesVersion
from labkit.yamldata import thaw

DEFAULT_NAME = "labkit"
# The longest node name is `<name>-control-plane`: it must stay a 63-character DNS label.
MAX_NAME_LENGTH = 40
MAX_WORKERS = 10
# An odd count: etcd keeps quorum with (n - 1) / 2 members lost, so an even count tolerates
# no more failures than the odd count below it.
CONTROL_PLANE_COUNTS = (1, 3, 5)


def etcd_quorum(members: int) -> int:
    """How many of etcd's members must run for it to serve: a majority."""
    return members // 2 + 1


# The first choice is the default.
CNI_CHOICES = ("flannel", "none")
# `local`: the lab's own registry, every node's mirror of the public registries' names.
REGISTRY_CHOICES = ("local", "none")
INIT_MODES = ("whole", "phases")

# kind's defaults, so that a lab and a kind cluster can be compared like for like.
DEFAULT_POD_SUBNET = "10.244.0.0/16"
DEFAULT_SERVICE_SUBNET = "10.96.0.0/16"
DEFAULT_DNS_DOMAIN = "cluster.local"

PATCH_KINDS = (
    "InitConfiguration",
    "ClusterConfiguration",
    "JoinConfiguration",
    "KubeletConfiguration",
    "KubeProxyConfiguration",
)
# The only document kubeadm reads on one node alone: the others are uploaded to ConfigMaps
# (kubeadm-config, kubelet-config, kube-proxy) that every node shares, so a per-node patch
# of them would silently change the whole cluster.
NODE_PATCH_KINDS = {ROLE_CONTROL_PLANE: "InitConfiguration", ROLE_WORKER: "JoinConfiguration"}

Patches = Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True)
class NodeSpec:
    """One node: `index` is its number within its role (1 for `-worker`, 2 for `-worker2`)."""

    name: str
    role: str
    index: int

    @property
    def is_control_plane(self) -> bool:
        return self.role == ROLE_CONTROL_PLANE


@dataclass(frozen=True)
class Networking:
    pod_subnet: str = DEFAULT_POD_SUBNET
    service_subnet: str = DEFAULT_SERVICE_SUBNET
    dns_domain: str = DEFAULT_DNS_DOMAIN


@dataclass(frozen=True)
class Binaries:
    """Host paths of the user's own kubeadm and kubelet builds, to use instead of the image's."""

    kubeadm: Path | None = None
    kubelet: Path | None = None


@dataclass(frozen=True)
class Resources:
    """Docker limits of a node container; the node's kubelet reserves the rest of the host,
    so that its allocatable CPU and memory stay within them. None: no limit."""

    cpus: float | None = None
    memory: int | None = None  # bytes

    def over(self, default: Resources | None) -> Resources:
        """These limits, each unset one taken from the lab-wide `default`."""
        if default is None:
            return self
        return Resources(
            self.cpus if self.cpus is not None else default.cpus,
            self.memory if self.memory is not None else default.memory,
        )


@dataclass(frozen=True)
class PortMapping:
    """A node's port published on the host (kind's extraPortMappings)."""

    container_port: int
    host_port: int
    listen_address: str = "127.0.0.1"
    protocol: str = "TCP"


@dataclass(frozen=True)
class HostMount:
    """A host path bind-mounted into a node (kind's extraMounts)."""

    host_path: Path
    container_path: str
    read_only: bool = False


def _empty() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True)
class NodeOverride:
    kubeadm: Patches = field(default_factory=_empty)
    ignore_preflight_errors: tuple[str, ...] = ()
    # A worker's own release (its kubelet), when it differs from the lab's.
    kubernetes_version: KubernetesVersion | None = None
    resources: Resources | None = None
    extra_port_mappings: tuple[PortMapping, ...] = ()
    extra_mounts: tuple[HostMount, ...] = ()


@dataclass(frozen=True)
class LabSpec:
    """A validated lab; build it with `from_file` or `from_dict`, which check every field."""

    name: str = DEFAULT_NAME
    kubernetes_version: KubernetesVersion = DEFAULT_VERSION
    image: str | None = None
    control_planes: int = 1
    workers: int = 0
    cni: str = "flannel"
    registry: str = "local"
    networking: Networking = field(default_factory=Networking)
    kubeadm: Patches = field(default_factory=_empty)
    nodes: Mapping[str, NodeOverride] = field(default_factory=_empty)
    ignore_preflight_errors: tuple[str, ...] = ()
    binaries: Binaries = field(default_factory=Binaries)
    init: str = "whole"
    # Every node's limits, unless its override sets its own.
    resources: Resources | None = None
    source: str = field(default="lab spec", compare=False)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> LabSpec:
        # parse builds LabSpecs, so it imports this module; it is imported when called.
        from labkit.spec.parse import spec_from_file

        return spec_from_file(path)

    @classmethod
    def from_dict(
        cls, data: Any, *, source: str = "lab spec", base_dir: Path | None = None
    ) -> LabSpec:
        """Validate camelCase `data`; relative `binaries` paths are taken from `base_dir`."""
        from labkit.spec.parse import spec_from_dict

        return spec_from_dict(data, source=source, base_dir=base_dir)

    def replace(
        self,
        *,
        name: str | None = None,
        control_planes: int | None = None,
        workers: int | None = None,
        cni: str | None = None,
        registry: str | None = None,
        kubernetes_version: str | KubernetesVersion | None = None,
        image: str | None = None,
        init: str | None = None,
    ) -> LabSpec:
        """A copy with (CLI) overrides applied, validated as if they had been in the file."""
        version = None if kubernetes_version is None else str(kubernetes_version)
        changes = {
            "name": name,
            "controlPlanes": control_planes,
            "workers": workers,
            "cni": cni,
            "registry": registry,
            "image": image,
            "init": init,
            "kubernetesVersion": version,
        }
        changes = {key: value for key, value in changes.items() if value is not None}
        if not changes:
            return self
        data = self.to_dict()
        if name is not None:
            # An override names a role and index; it follows its node when the lab is renamed.
            data["nodes"] = {
                f"{name}-{key.removeprefix(self.name + '-')}": value
                for key, value in data.get("nodes", {}).items()
            }
        data.update(changes)
        described = ", ".join(f"{key}={cut(str(value))}" for key, value in changes.items())
        return LabSpec.from_dict(data, source=f"{self.source} (with {described})")

    def to_dict(self) -> dict[str, Any]:
        """camelCase YAML data that `from_dict` turns back into this spec."""
        data = thaw(self)
        del data["source"]
        return data

    @property
    def node_image(self) -> str:
        return self.image or self.kubernetes_version.node_image

    def version_of(self, node: NodeSpec) -> KubernetesVersion:
        """The release of the node's kubelet: its own when skewed, else the lab's."""
        return self.override_for(node).kubernetes_version or self.kubernetes_version

    def image_of(self, node: NodeSpec) -> str:
        """A skewed node runs its release's image; the others the lab's."""
        own = self.override_for(node).kubernetes_version
        return own.node_image if own else self.node_image

    def releases(self) -> list[KubernetesVersion]:
        """Every release the lab's nodes run, the lab's own first."""
        versions = dict.fromkeys(
            [self.kubernetes_version, *map(self.version_of, self.node_names())]
        )
        return list(versions)

    def node_names(self) -> list[NodeSpec]:
        """Nodes in bring-up order, named as kind names them (`-worker`, `-worker2`, ...)."""
        return node_specs(self.name, self.control_planes, self.workers)

    @property
    def control_plane(self) -> NodeSpec:
        return self.node_names()[0]

    @property
    def is_ha(self) -> bool:
        return self.control_planes > 1

    @property
    def load_balancer_name(self) -> str | None:
        """The container in front of the API servers, when there are several."""
        return f"{self.name}-{ROLE_LOAD_BALANCER}" if self.is_ha else None

    @property
    def registry_name(self) -> str | None:
        """The lab's registry container, unless `registry: none`."""
        return f"{self.name}-{ROLE_REGISTRY}" if self.registry == "local" else None

    @property
    def control_plane_endpoint(self) -> str:
        """host:port every kubeconfig and join uses: a name, not an address, so it is in
        the serving certificates and survives an address change; the load balancer's with
        several control planes, else the control plane's."""
        host = self.load_balancer_name or self.control_plane.name
        return f"{host}:{API_SERVER_PORT}"

    def override_for(self, node: NodeSpec) -> NodeOverride:
        return self.nodes.get(node.name, NodeOverride())

    def resources_of(self, node: NodeSpec) -> Resources | None:
        """The node's limits, field by field its own over the lab's; None when unlimited."""
        own = self.override_for(node).resources
        merged = own.over(self.resources) if own else self.resources
        return merged if merged and (merged.cpus or merged.memory) else None


def node_specs(lab: str, control_planes: int, workers: int) -> list[NodeSpec]:
    """The nodes of a lab of this name and size, in bring-up order."""

    def named(role: str, index: int) -> NodeSpec:
        return NodeSpec(f"{lab}-{role}{index if index > 1 else ''}", role, index)

    return [named(ROLE_CONTROL_PLANE, i) for i in range(1, control_planes + 1)] + [
        named(ROLE_WORKER, i) for i in range(1, workers + 1)
    ]
