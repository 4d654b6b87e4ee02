"""The lab's registry as its nodes use it: every node's containerd resolves the mirrored
host names (and `localhost:<port>`) through the lab's registry, and the registry answers
the registry API's `/v2/`."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator

from labkit.checks.context import ClusterContext
from labkit.checks.control_planes import LabFiles
from labkit.checks.findings import RuleSet, Violation

RULES = RuleSet(artifact="registry", scope="nodes")
HOSTS_DOCS = "https://github.com/containerd/containerd/blob/main/docs/hosts.md"


@RULES.rule(id="registry.mirrors", source=HOSTS_DOCS)
def mirrors(lab: LabFiles, context: ClusterContext) -> Iterator[Violation]:
    """Every node's certs.d sends registry.k8s.io, docker.io, ghcr.io, quay.io and
    localhost:<port> to the lab's registry, and the registry answers /v2/"""
    from labkit.lab.registry import mirror_files

    registry = lab.registry
    if registry is None:
        return
    if registry.unanswered is not None:
        yield Violation(
            f"registry/{registry.name}",
            f"127.0.0.1:{registry.port}/v2/ answers",
            registry.unanswered,
        )
    expected = mirror_files(registry.address, registry.port)
    for name in context.nodes:
        node = lab.nodes.get(name)
        if node is None:
            continue
        for path, text in expected.items():
            server = _server(text)
            entry = node.get(path)
            if entry is None:
                yield Violation(path, f"server {server}", "no such file", node=name)
                continue
            try:
                actual = _server(entry.text)
            except tomllib.TOMLDecodeError as error:
                yield Violation(path, f"server {server}", f"not TOML: {error}", node=name)
                continue
            if actual != server:
                yield Violation(path, f"server {server}", f"server {actual}", node=name)


def _server(text: str) -> str:
    hosts = tomllib.loads(text)
    suffix = " (override_path)" if hosts.get("override_path") else ""
    return f"{hosts.get('server', 'none')}{suffix}"
