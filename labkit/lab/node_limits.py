"""The bring-up step that makes a limited node's kubelet follow its container's limits.

A node container sees the host's /proc, so its kubelet reports the host's CPUs and memory
as capacity and the scheduler would fill the node past its Docker limits. Before kubeadm
runs, each limited node gets a KubeletConfiguration patch reserving the difference
(`labkit.kubeadm.config.kubelet_reservation_patch`), which kubeadm init and join apply to
that node's kubelet alone; the kubelet keeps it in /var/lib/kubelet/config.yaml.
`kubeadm upgrade apply` and `upgrade node` write that file anew from the cluster's
KubeletConfiguration, so `lab upgrade` passes them the same directory
(`kubeadm_patches_directory`), and the reservation survives the upgrade.
"""

from __future__ import annotations

import re

import yaml

from labkit.constants import KUBEADM_CONFIG
from labkit.errors import StepFailed
from labkit.kubeadm.config import KUBELET_PATCH_FILE, kubelet_reservation_patch
from labkit.lab.bringup_context import BringUp
from labkit.lab.node import Node
from labkit.parallel import parallel

# The kubeadm documents that carry a node's `patches.directory` (v1beta4).
_NODE_DOCUMENTS = ("InitConfiguration", "JoinConfiguration")
# What the kubelet's cAdvisor counts as capacity: online CPUs and /proc/meminfo's MemTotal.
_CAPACITY_COMMAND = ["sh", "-c", "getconf _NPROCESSORS_ONLN; grep MemTotal /proc/meminfo"]
_CAPACITY = re.compile(r"^(\d+)\s+MemTotal:\s+(\d+) kB", re.MULTILINE)


def reserve_beyond_limits(up: BringUp) -> None:
    specs = {n.name: n for n in up.spec.node_names()}
    limited = [node for node in up.nodes if up.spec.resources_of(specs[node.name])]
    if not limited:
        up.progress.say("   none: no node has resources set")
        return

    def reserve(node: Node) -> str:
        limits = up.spec.resources_of(specs[node.name])
        assert limits is not None
        cpus, memory = node_capacity(node)
        patch = kubelet_reservation_patch(limits, cpus, memory)
        node.write_file(KUBELET_PATCH_FILE, patch.encode())
        reserved = ", ".join(f"{k} {v}" for k, v in yaml.safe_load(patch)["systemReserved"].items())
        return f"   {node.name}: host {cpus} CPUs, {memory // 2**20} MiB; reserved {reserved}"

    for line in parallel(limited, reserve):
        up.progress.say(line)


def node_capacity(node: Node) -> tuple[int, int]:
    """The CPUs and the bytes of memory the node's kubelet will see as its capacity."""
    output = node.output(_CAPACITY_COMMAND)
    match = _CAPACITY.search(output)
    if not match:
        raise StepFailed(
            operation="read the node's capacity",
            node=node.name,
            reason="getconf and /proc/meminfo did not give the CPUs and MemTotal",
            evidence={"output": output},
        )
    return int(match[1]), int(match[2]) * 1024


def kubeadm_patches_directory(node: Node) -> str | None:
    """The `patches.directory` the node's kubeadm init or join was given (labkit's, or the
    user's through the spec's `kubeadm` patches), or None: kubeadm refuses a directory that
    does not exist, so only a node brought up with one may be given it again."""
    return patches_directory_of(node.read_file(KUBEADM_CONFIG).decode())


def patches_directory_of(config: str) -> str | None:
    """The `patches.directory` of the InitConfiguration or JoinConfiguration in `config`."""
    for document in yaml.safe_load_all(config):
        if isinstance(document, dict) and document.get("kind") in _NODE_DOCUMENTS:
            directory = (document.get("patches") or {}).get("directory")
            return str(directory) if directory else None
    return None
