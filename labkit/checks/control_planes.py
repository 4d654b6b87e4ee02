"""Rules across the control planes of one lab: what they must share. kubeadm generates the
CAs and the service-account key pair once, on the node `kubeadm init` runs on, and a
control plane that joins gets the same bytes (from the kubeadm-certs Secret with
`--upload-certs`, else copied by hand), then its own serving and peer certificates."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from labkit.checks.artifacts import NodeArtifacts
from labkit.checks.context import ClusterContext, RegistryEndpoint
from labkit.checks.etcd_members import EtcdMember
from labkit.checks.findings import RuleSet, Violation, kubeadm_source
from labkit.constants import ETCD_CLIENT_PORT, ETCD_PEER_PORT, PKI_DIR, SHARED_PKI_FILES

RULES = RuleSet(artifact="control-planes", scope="nodes")

SHARED_KEYS = tuple(f"{PKI_DIR}/{name}" for name in SHARED_PKI_FILES)


@dataclass(frozen=True)
class LabFiles:
    """What the rules across nodes read: every node's archive, by name, and etcd's member
    list as a control plane's etcd gives it (or why it could not be read)."""

    nodes: Mapping[str, NodeArtifacts]
    etcd_members: tuple[EtcdMember, ...] | str = ()
    # Each node's address on the lab network, from Docker.
    addresses: Mapping[str, str] = field(default_factory=dict)
    # The lab's registry; None with `registry: none`.
    registry: RegistryEndpoint | None = None


@RULES.rule(id="control-planes.shared-keys", source=kubeadm_source("phases/copycerts/copycerts.go"))
def shared_keys(lab: LabFiles, context: ClusterContext) -> Iterator[Violation]:
    """Every control plane holds the same CA, front-proxy CA, service-account key pair and
    etcd CA as the first"""
    nodes = lab.nodes
    first, *others = context.control_planes
    reference = nodes.get(first)
    if reference is None or not others:
        return
    for name in others:
        node = nodes.get(name)
        if node is None:
            continue
        for path in SHARED_KEYS:
            mine, theirs = node.get(path), reference.get(path)
            if mine is None:
                yield Violation(path, f"the one {first} holds", "no such file", node=name)
            elif theirs is not None and mine.data != theirs.data:
                yield Violation(path, f"the one {first} holds", "other bytes", node=name)


@RULES.rule(id="control-planes.etcd-members", source=kubeadm_source("phases/etcd/local.go"))
def etcd_members(lab: LabFiles, context: ClusterContext) -> Iterator[Violation]:
    """etcd has one voting member per control plane, named after it, with its peer and
    client URLs on the node's address, and no other member"""
    path = "etcd:/v3/cluster/member/list"
    if isinstance(lab.etcd_members, str):
        yield Violation(path, "etcd's member list", lab.etcd_members)
        return
    members = {m.name: m for m in lab.etcd_members}
    for name in context.control_planes:
        member = members.pop(name, None)
        address = lab.addresses.get(name)
        if member is None:
            yield Violation(path, f"a member {name}", "none", node=name)
            continue
        if member.is_learner:
            yield Violation(path, f"{name} a voting member", "a learner", node=name)
        expected = {
            "peer": (f"https://{address}:{ETCD_PEER_PORT}",),
            "client": (f"https://{address}:{ETCD_CLIENT_PORT}",),
        }
        for kind, urls in (("peer", member.peer_urls), ("client", member.client_urls)):
            if address and urls != expected[kind]:
                found = ", ".join(urls) or "none"
                yield Violation(path, f"{kind} URLs {expected[kind][0]}", found, node=name)
    for extra in members:
        yield Violation(path, "no member but the control planes", f"member {extra or '(unnamed)'}")
