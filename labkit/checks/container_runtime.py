"""The container runtime each node reports: within containerd's support matrix for the
node's kubelet."""

from __future__ import annotations

import re
from collections.abc import Iterator

from labkit.checks.context import ClusterContext
from labkit.checks.findings import RuleSet, Violation
from labkit.checks.snapshot import ClusterSnapshot
from labkit.versions import CONTAINERD_SUPPORT, CONTAINERD_SUPPORT_SOURCE

RULES = RuleSet(artifact="container-runtime", scope="cluster")

_CONTAINERD = re.compile(r"^containerd://v?(\d+)\.(\d+)\.(\d+)")
_KUBELET_MINOR = re.compile(r"^v1\.(\d+)\.")


def supported_containerd(kubelet_minor: int) -> tuple[tuple[int, int, int], ...]:
    """The lowest containerd patch of each release the matrix lists for the minor; a minor
    newer than the matrix (a pre-release) is held to its newest row, an older one to its
    oldest."""
    listed = min(max(kubelet_minor, min(CONTAINERD_SUPPORT)), max(CONTAINERD_SUPPORT))
    return CONTAINERD_SUPPORT[listed]


def is_supported(runtime: tuple[int, int, int], kubelet_minor: int) -> bool:
    return any(
        runtime[:2] == floor[:2] and runtime >= floor
        for floor in supported_containerd(kubelet_minor)
    )


def _shown(floors: tuple[tuple[int, int, int], ...]) -> str:
    return ", ".join(f"{major}.{minor}.{patch}+" for major, minor, patch in floors)


@RULES.rule(id="container-runtime.supported", source=CONTAINERD_SUPPORT_SOURCE)
def supported(snapshot: ClusterSnapshot, context: ClusterContext) -> Iterator[Violation]:
    """Every node runs a containerd release that containerd's support matrix lists for the
    node's kubelet minor"""
    for name in context.nodes:
        node = snapshot.node(name)
        if node is None:  # node-state.registered reports it
            continue
        info = (node.get("status") or {}).get("nodeInfo") or {}
        runtime, kubelet = info.get("containerRuntimeVersion", ""), info.get("kubeletVersion", "")
        minor = _KUBELET_MINOR.match(kubelet)
        if minor is None:
            continue
        kubelet_minor = int(minor.group(1))
        version = _CONTAINERD.match(runtime)
        if version:
            major, release, patch = (int(part) for part in version.groups())
            if is_supported((major, release, patch), kubelet_minor):
                continue
        expected = f"containerd {_shown(supported_containerd(kubelet_minor))} (kubelet {kubelet})"
        yield Violation(f"Node/{name}", expected, runtime or "no runtime reported", node=name)
