"""Check a running lab: `check_lab(lab)` reads every node once (one `tar` each, in
parallel), the kubeadm under test and the cluster's objects, builds a `CheckContext` per node
and a `ClusterContext` (labkit.checks.lab_context), and runs every rule.

    run = check_lab(Lab.find(docker_client(), "demo"))
    print(render_table(run.findings)); exit(1 if run.failures else 0)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from labkit.checks import (
    Finding,
    all_rules,
    check_cluster,
    check_node,
    fetch_cluster_snapshot,
)
from labkit.checks.lab_context import (
    IMAGES_LIST,
    INIT_DEFAULTS,
    cluster_context,
    kubeadm_stdout,
    lab_config,
    node_context,
    read_node,
)
from labkit.lab.lab import Lab

_Result = TypeVar("_Result")


@dataclass(frozen=True)
class NodeTiming:
    node: str
    read_seconds: float  # the one `tar` of the node, concurrent with the others
    check_seconds: float  # every node rule, in-process


@dataclass(frozen=True)
class CheckRun:
    """Every rule over every node and the cluster, with where the time went."""

    lab: str
    findings: tuple[Finding, ...]
    nodes: tuple[str, ...]
    rules: int
    timings: tuple[NodeTiming, ...]
    cluster_seconds: float  # snapshot read and cluster rules
    total_seconds: float

    @property
    def failures(self) -> list[Finding]:
        return [f for f in self.findings if f.status == "fail"]


def _timed(action: Callable[[], _Result]) -> tuple[_Result, float]:
    started = time.monotonic()
    return action(), time.monotonic() - started


def check_lab(lab: Lab, *, strict: bool = False) -> CheckRun:
    """Read every node (in parallel), the kubeadm under test and the cluster's objects, then
    run every node rule on every node and every cluster rule; `strict` fails known items."""
    started = time.monotonic()
    control_plane = lab.control_plane
    with ThreadPoolExecutor(max_workers=2 * len(lab.nodes) + 3) as pool:
        reads = {n.name: pool.submit(_timed, partial(read_node, n)) for n in lab.nodes}
        addresses = {n.name: pool.submit(n.lab_address) for n in lab.nodes}
        defaults = pool.submit(kubeadm_stdout, control_plane, INIT_DEFAULTS)
        images = pool.submit(kubeadm_stdout, control_plane, IMAGES_LIST)
        snapshot = pool.submit(_timed, partial(fetch_cluster_snapshot, lab.api_client()))
        read = {name: future.result() for name, future in reads.items()}
        address = {name: future.result() for name, future in addresses.items()}
        artifacts = {name: result[0] for name, result in read.items()}
        config = lab_config(
            control_plane.name, artifacts[control_plane.name], defaults.result(), images.result()
        )
        cluster_snapshot, snapshot_seconds = snapshot.result()
    findings: list[Finding] = []
    timings = []
    for node in lab.nodes:
        context = node_context(config, artifacts[node.name], address[node.name])
        node_findings, seconds = _timed(
            partial(check_node, artifacts[node.name], context, strict=strict)
        )
        findings += node_findings
        timings.append(NodeTiming(node.name, read[node.name][1], seconds))
    context = cluster_context(config, artifacts.values(), address)
    cluster_findings, seconds = _timed(
        partial(check_cluster, cluster_snapshot, context, strict=strict)
    )
    return CheckRun(
        lab.name,
        tuple(findings + cluster_findings),
        tuple(n.name for n in lab.nodes),
        len(all_rules()),
        tuple(timings),
        snapshot_seconds + seconds,
        time.monotonic() - started,
    )
