"""Rules across the control planes of one lab: what they must share. kubeadm generates the
CAs and the service-account key pair once, on the node `kubeadm init` runs on, and a
control plane that joins gets the same bytes (from the kubeadm-certs Secret with
`--upload-certs`, else copied by hand), then its own serving and peer certificates."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from labkit.checks.artifacts import NodeArtifacts
from labkit.checks.context import ClusterContext
from labkit.checks.findings import RuleSet, Violation, kubeadm_source
from labkit.constants import PKI_DIR, SHARED_PKI_FILES

RULES = RuleSet(artifact="control-planes", scope="nodes")

SHARED_KEYS = tuple(f"{PKI_DIR}/{name}" for name in SHARED_PKI_FILES)

ControlPlanes = Mapping[str, NodeArtifacts]


@RULES.rule(id="control-planes.shared-keys", source=kubeadm_source("phases/copycerts/copycerts.go"))
def shared_keys(nodes: ControlPlanes, context: ClusterContext) -> Iterator[Violation]:
    """Every control plane holds the same CA, front-proxy CA, service-account key pair and
    etcd CA as the first"""
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
