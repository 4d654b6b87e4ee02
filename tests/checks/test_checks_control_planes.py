"""The rules across control planes: each fails alone when one control plane holds other
shared keys, or etcd's members are not the control planes at their addresses."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace

import pytest
from kubeadm_like import control_plane_node
from kubeadm_like_cluster import cluster_context
from kubeadm_like_pki import CONTROL_PLANE, NodeFiles, Pki, build_pki

from labkit.checks import Finding, LabFiles, check_nodes
from labkit.checks.etcd_members import EtcdMember, parse_member_list

SECOND = f"{CONTROL_PLANE}2"
ADDRESSES = {CONTROL_PLANE: "10.201.0.2", SECOND: "10.201.0.3"}
MEMBER_LIST = "etcd:/v3/cluster/member/list"


def member(name: str, address: str | None = None, **changes: object) -> EtcdMember:
    address = address or ADDRESSES[name]
    fields = {
        "name": name,
        "peer_urls": (f"https://{address}:2380",),
        "client_urls": (f"https://{address}:2379",),
    }
    return EtcdMember(**(fields | changes))  # type: ignore[arg-type]


@dataclass
class TwoControlPlanes:
    second: NodeFiles
    members: tuple[EtcdMember, ...] | str


@dataclass(frozen=True)
class NodesCase:
    rule_id: str
    breaks: str
    mutate: Callable[[TwoControlPlanes], None]
    path: str
    mentions: str

    @property
    def id(self) -> str:
        return f"{self.rule_id}[{self.breaks}]"


def _other_ca(lab: TwoControlPlanes) -> None:
    """The second control plane made its own CA instead of receiving the first's."""
    other = build_pki("RSA-2048")
    lab.second.put_cert("ca", other.certs["ca"])
    lab.second.put_key("ca", other.keys["ca"])


def _no_sa_key(lab: TwoControlPlanes) -> None:
    del lab.second.files["/etc/kubernetes/pki/sa.key"]


def _members(*members: EtcdMember) -> Callable[[TwoControlPlanes], None]:
    def mutate(lab: TwoControlPlanes) -> None:
        lab.members = members

    return mutate


def _unreadable(lab: TwoControlPlanes) -> None:
    lab.members = "curl on lab-control-plane exited 7: Failed to connect to 127.0.0.1 port 2379"


CASES = [
    NodesCase("control-planes.shared-keys", "another CA", _other_ca,
              "/etc/kubernetes/pki/ca.crt", "other bytes"),
    NodesCase("control-planes.shared-keys", "no sa.key", _no_sa_key,
              "/etc/kubernetes/pki/sa.key", "no such file"),
    NodesCase("control-planes.etcd-members", "a member missing",
              _members(member(CONTROL_PLANE)), MEMBER_LIST, "none"),
    NodesCase("control-planes.etcd-members", "a member left over",
              _members(member(CONTROL_PLANE), member(SECOND), member("gone", "10.201.0.9")),
              MEMBER_LIST, "member gone"),
    NodesCase("control-planes.etcd-members", "peer URL on another address",
              _members(member(CONTROL_PLANE), member(SECOND, "10.201.0.7")),
              MEMBER_LIST, "https://10.201.0.7:2380"),
    NodesCase("control-planes.etcd-members", "a learner",
              _members(member(CONTROL_PLANE), member(SECOND, is_learner=True)),
              MEMBER_LIST, "a learner"),
    NodesCase("control-planes.etcd-members", "etcd does not answer", _unreadable,
              MEMBER_LIST, "Failed to connect"),
]  # fmt: skip


def good_lab(pki: Pki) -> TwoControlPlanes:
    return TwoControlPlanes(control_plane_node(pki), (member(CONTROL_PLANE), member(SECOND)))


def run(pki: Pki, lab: TwoControlPlanes) -> list[Finding]:
    nodes = {
        CONTROL_PLANE: control_plane_node(pki).artifacts(),
        SECOND: replace(lab.second.artifacts(), node=SECOND),
    }
    context = cluster_context(pki.certs["ca"], control_planes=(CONTROL_PLANE, SECOND))
    return check_nodes(LabFiles(nodes, lab.members, ADDRESSES), context)


def test_control_planes_with_the_same_keys_and_their_members_pass(pki: Pki) -> None:
    assert run(pki, good_lab(pki)) == []


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_each_broken_invariant_fails_its_rule_alone(pki: Pki, case: NodesCase) -> None:
    lab = good_lab(pki)
    case.mutate(lab)
    findings = run(pki, lab)
    assert {f.rule_id for f in findings} == {case.rule_id}, findings
    assert any(f.path == case.path and case.mentions in f.found for f in findings), findings


def test_the_member_list_is_read_as_etcd_answers_it() -> None:
    answer = {
        "header": {"cluster_id": "1"},
        "members": [
            {"ID": "1", "name": "a", "peerURLs": ["https://10.0.0.2:2380"],
             "clientURLs": ["https://10.0.0.2:2379"]},
            {"ID": "2", "name": "b", "peerURLs": ["https://10.0.0.3:2380"], "isLearner": True},
        ],
    }  # fmt: skip
    members = parse_member_list(json.dumps(answer))
    assert members == (
        EtcdMember("a", ("https://10.0.0.2:2380",), ("https://10.0.0.2:2379",)),
        EtcdMember("b", ("https://10.0.0.3:2380",), (), is_learner=True),
    )


@pytest.mark.parametrize("text", ["", "curl: (7) Failed to connect", '{"error": "x"}'])
def test_anything_but_a_member_list_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="etcd"):
        parse_member_list(text)
