"""etcd's member list as etcd itself gives it: its v3 JSON gateway, asked on a control plane
with the API server's client certificate (one `curl` in the node, no etcdctl needed)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from labkit.constants import ETCD_CLIENT_PORT, PKI_DIR

_ETCD_PKI = f"{PKI_DIR}/etcd"
MEMBER_LIST = (
    "curl", "-sS", "--max-time", "10",
    "--cacert", f"{_ETCD_PKI}/ca.crt",
    "--cert", f"{_ETCD_PKI}/healthcheck-client.crt",
    "--key", f"{_ETCD_PKI}/healthcheck-client.key",
    "-X", "POST", "-d", "{}",
    f"https://127.0.0.1:{ETCD_CLIENT_PORT}/v3/cluster/member/list",
)  # fmt: skip


@dataclass(frozen=True)
class EtcdMember:
    name: str
    peer_urls: tuple[str, ...]
    client_urls: tuple[str, ...]
    is_learner: bool = False


def parse_member_list(text: str) -> tuple[EtcdMember, ...]:
    """The members of a `/v3/cluster/member/list` answer; ValueError when it is none."""
    try:
        answer = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"etcd's member list is not JSON: {error}: {text[:200]!r}") from None
    if not isinstance(answer, dict) or not isinstance(answer.get("members"), list):
        raise ValueError(f"etcd answered no member list: {text[:200]!r}")
    return tuple(
        EtcdMember(
            name=str(member.get("name", "")),
            peer_urls=tuple(member.get("peerURLs") or ()),
            client_urls=tuple(member.get("clientURLs") or ()),
            is_learner=bool(member.get("isLearner", False)),
        )
        for member in answer["members"]
    )
