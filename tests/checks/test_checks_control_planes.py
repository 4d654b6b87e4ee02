"""The rules across control planes fail when one of them holds other shared keys."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import pytest
from kubeadm_like import control_plane_node
from kubeadm_like_cluster import cluster_context
from kubeadm_like_pki import CONTROL_PLANE, NodeFiles, Pki, build_pki

from labkit.checks import Finding, check_nodes
from labkit.checks.artifacts import NodeArtifacts

SECOND = f"{CONTROL_PLANE}2"


@dataclass(frozen=True)
class NodesCase:
    rule_id: str
    breaks: str
    mutate: Callable[[NodeFiles, Pki], None]
    path: str
    mentions: str

    @property
    def id(self) -> str:
        return f"{self.rule_id}[{self.breaks}]"


def _other_ca(files: NodeFiles, pki: Pki) -> None:
    """The second control plane made its own CA instead of receiving the first's."""
    other = build_pki("RSA-2048")
    files.put_cert("ca", other.certs["ca"])
    files.put_key("ca", other.keys["ca"])


def _no_sa_key(files: NodeFiles, pki: Pki) -> None:
    del files.files["/etc/kubernetes/pki/sa.key"]


CASES = [
    NodesCase("control-planes.shared-keys", "another CA", _other_ca,
              "/etc/kubernetes/pki/ca.crt", "other bytes"),
    NodesCase("control-planes.shared-keys", "no sa.key", _no_sa_key,
              "/etc/kubernetes/pki/sa.key", "no such file"),
]  # fmt: skip


def two_control_planes(pki: Pki) -> tuple[NodeArtifacts, NodeFiles]:
    first = control_plane_node(pki).artifacts()
    second = control_plane_node(pki)
    return first, second


def run(pki: Pki, first: NodeArtifacts, second: NodeFiles) -> list[Finding]:
    artifacts = {CONTROL_PLANE: first, SECOND: replace(second.artifacts(), node=SECOND)}
    context = cluster_context(pki.certs["ca"], control_planes=(CONTROL_PLANE, SECOND))
    return check_nodes(artifacts, context)


def test_control_planes_with_the_same_keys_pass(pki: Pki) -> None:
    assert run(pki, *two_control_planes(pki)) == []


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_a_control_plane_with_other_keys_fails(pki: Pki, case: NodesCase) -> None:
    first, second = two_control_planes(pki)
    case.mutate(second, pki)
    findings = run(pki, first, second)
    assert {f.rule_id for f in findings} == {case.rule_id}
    assert any(
        f.node == SECOND and f.path == case.path and case.mentions in f.found for f in findings
    ), findings
