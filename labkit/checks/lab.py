"""Check a running lab: `check_lab(lab)` reads every node once (one `tar` each, in
parallel), the kubeadm under test and the cluster's objects, builds a `CheckContext` per node
and a `ClusterContext` (labkit.checks.lab_context), and runs every rule.

    run = check_lab(LabModel.find(docker_client(), "demo"), wait=60)
    print(run); exit(0 if run.ok else 1)

The node rules read files, so they run whether the API server answers or not (a user runs
`check` exactly when something on the control plane is wrong). When it does not answer,
each cluster rule is reported with the status `error` (NOT_CHECKED) and the reason, never as
passed, and the run fails.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from labkit.checks import (
    ClusterSnapshot,
    Finding,
    LabFiles,
    all_rules,
    check_cluster,
    check_node,
    check_nodes,
    cluster_rules,
    fetch_cluster_snapshot,
)
from labkit.checks.context import RegistryEndpoint
from labkit.checks.findings import CLUSTER
from labkit.checks.lab_context import (
    IMAGES_LIST,
    INIT_DEFAULTS,
    cluster_context,
    kubeadm_stdout,
    lab_config,
    node_context,
    read_etcd_members,
    read_node,
)
from labkit.checks.report import (
    NOT_CHECKED,
    findings_as_dicts,
    render_rules,
    render_table,
    summary_line,
)
from labkit.errors import LabkitError
from labkit.lab.api import API_FAILURES, failure_reason, wait_for_api
from labkit.lab.model import LabModel
from labkit.nodeimage.registry_image import answers as registry_answers
from labkit.nodeimage.registry_image import published_port
from labkit.results import Result

_Result = TypeVar("_Result")


@dataclass(frozen=True)
class NodeTiming:
    node: str
    read_seconds: float  # the one `tar` of the node, concurrent with the others
    check_seconds: float  # every node rule, in-process


@dataclass(frozen=True, repr=False)
class CheckRun(Result):
    """Every rule over every node and the cluster, with where the time went; `str()` is
    what `labkit check` prints, `as_json()` what `labkit check --json` prints."""

    lab: str
    findings: tuple[Finding, ...]
    nodes: tuple[str, ...]
    rules: int
    timings: tuple[NodeTiming, ...]
    cluster_seconds: float  # snapshot read and cluster rules
    total_seconds: float
    # Why the cluster rules could not run (the API server did not answer), else None.
    api_problem: str | None = None

    @property
    def failures(self) -> list[Finding]:
        """What makes the run fail: rules that failed and rules that could not run."""
        return [f for f in self.findings if f.status in ("fail", NOT_CHECKED)]

    @property
    def ok(self) -> bool:
        return not self.failures

    def __str__(self) -> str:
        return f"{render_table(self.findings)}\n{self.summary()}"

    def rules_text(self) -> str:
        """What `labkit check --rules` prints: every rule with its result, then the summary."""
        return f"{render_rules(all_rules(), self.findings)}\n{self.summary()}"

    def summary(self) -> str:
        """The counts and the time, and why the cluster rules did not run if they did not
        (`labkit check --json` prints this on stderr)."""
        lines = [
            summary_line(self.findings, rules=self.rules, nodes=len(self.nodes))
            + f" in {self.total_seconds:.1f}s"
        ]
        if self.api_problem:
            lines.append(
                f"the cluster rules were not checked: {self.api_problem}. "
                f"`labkit lab status {self.lab}` says why; "
                f"`labkit check {self.lab} --wait 120` waits for the API server"
            )
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "lab": self.lab,
            "ok": self.ok,
            "rules": self.rules,
            "nodes": list(self.nodes),
            "seconds": round(self.total_seconds, 2),
            "api_problem": self.api_problem,
            "findings": findings_as_dicts(self.findings),
        }

    def as_json(self) -> list[dict[str, str]]:
        # `labkit check --json` has always printed the findings alone.
        return findings_as_dicts(self.findings)

    def _headline(self) -> str:
        return (
            f"{self.lab!r}: {self.rules} rules, {len(self.nodes)} nodes, "
            f"{len(self.failures)} failures"
        )


def _timed(action: Callable[[], _Result]) -> tuple[_Result, float]:
    started = time.monotonic()
    return action(), time.monotonic() - started


def not_checked(reason: str) -> list[Finding]:
    """A NOT_CHECKED finding for every cluster rule, saying why."""
    return [
        Finding(
            rule.id,
            CLUSTER,
            "-",
            "the API server to answer",
            f"not checked: {reason}",
            status=NOT_CHECKED,
        )
        for rule in cluster_rules()
    ]


def read_cluster(lab: LabModel, wait: float = 0.0) -> ClusterSnapshot | str:
    """The cluster's objects, or why they could not be read; with `wait`, wait up to that
    many seconds for the API server to be ready first."""
    try:
        api = lab.api_client()
    except LabkitError as error:
        return str(error)
    server = api.configuration.host
    try:
        problem = wait_for_api(api, wait) if wait > 0 else None
        if problem is not None:
            return f"the API server at {server} does not answer after {wait:.0f}s: {problem}"
        return fetch_cluster_snapshot(api)
    except API_FAILURES as error:
        return f"the API server at {server} does not answer: {failure_reason(error)}"
    finally:
        api.close()


def read_registry(lab: LabModel) -> RegistryEndpoint | None:
    """The lab's registry, and whether its /v2/ answers on 127.0.0.1."""
    node = lab.registry
    if node is None:
        return None
    node.container.reload()
    port, address = published_port(node.container), node.fixed_address() or ""
    if node.container.status != "running":
        return RegistryEndpoint(
            node.name, address, port, f"its container is {node.container.status}"
        )
    return RegistryEndpoint(node.name, address, port, registry_answers(port))


def check_lab(lab: LabModel, *, strict: bool = False, wait: float = 0.0) -> CheckRun:
    """Read every node (in parallel), the kubeadm under test and the cluster's objects, then
    run every node rule on every node and every cluster rule; `strict` fails known items.
    `wait` gives the API server that many seconds to answer before the cluster is read."""
    started = time.monotonic()
    control_plane = lab.control_plane
    with ThreadPoolExecutor(max_workers=2 * len(lab.nodes) + 3) as pool:
        reads = {n.name: pool.submit(_timed, partial(read_node, n)) for n in lab.nodes}
        addresses = {n.name: pool.submit(n.lab_address) for n in lab.nodes}
        defaults = pool.submit(kubeadm_stdout, control_plane, INIT_DEFAULTS)
        images = pool.submit(kubeadm_stdout, control_plane, IMAGES_LIST)
        members = pool.submit(read_etcd_members, control_plane)
        snapshot = pool.submit(_timed, partial(read_cluster, lab, wait))
        registry = pool.submit(read_registry, lab)
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
    files = LabFiles(artifacts, members.result(), address, registry.result())
    findings += check_nodes(files, context, strict=strict)
    if isinstance(cluster_snapshot, str):
        cluster_findings, seconds = not_checked(cluster_snapshot), 0.0
    else:
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
        cluster_snapshot if isinstance(cluster_snapshot, str) else None,
    )
