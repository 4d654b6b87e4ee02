"""Filling a snapshot from a running lab: Docker's view, the API, then the nodes the API
points at. Every read is bounded and none raises: what could not be read is recorded."""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from typing import TypedDict

import docker.errors
from kubernetes import client as k8s

from labkit.constants import API_REQUEST_TIMEOUT
from labkit.diagnose.pods import images_failing_to_pull
from labkit.diagnose.snapshot import JOURNAL_UNITS, LabSnapshot, suspect_nodes
from labkit.errors import LabkitError
from labkit.lab.api import failure_reason
from labkit.lab.model import LabModel
from labkit.lab.node import Node
from labkit.lab.registry import registry_tags
from labkit.lab.runtime import read_runtime
from labkit.nodeimage.registry_image import published_port
from labkit.spec import DEFAULT_POD_SUBNET

JOURNAL_LINES = 40
CONSOLE_LINES = 30
# Enough for a lab's recent history; a long-lived lab keeps more events than help.
EVENTS_KEPT = 300
BOOTSTRAP_TOKEN_TYPE = "bootstrap.kubernetes.io/token"


def fetch_snapshot(lab: LabModel, *, journal_lines: int = JOURNAL_LINES) -> LabSnapshot:
    control_plane = next((n for n in lab.nodes if n.is_control_plane), lab.nodes[0])
    containers = {node.name: container_status(node) for node in lab.nodes}
    consoles = {
        node.name: _console(node)
        for node in lab.nodes
        if containers[node.name] not in ("running", "removed")
    }
    balancer = lab.load_balancer
    registry = lab.registry
    registry_status = container_status(registry) if registry else None
    snapshot = LabSnapshot(
        lab=lab.name,
        control_plane=control_plane.name,
        control_planes=tuple(n.name for n in lab.control_planes),
        load_balancer=balancer.name if balancer else None,
        load_balancer_status=container_status(balancer) if balancer else None,
        registry=registry.name if registry else None,
        registry_status=registry_status,
        registry_address=registry.fixed_address() if registry else None,
        registry_port=published_port(registry.container) if registry else None,
        containers=containers,
        consoles=consoles,
        pod_subnet=_pod_subnet(lab),
        **_read_api(lab),
    )
    by_name = {node.name: node for node in lab.nodes}
    journals = read_journals(
        [by_name[n] for n in suspect_nodes(snapshot) if n in by_name], journal_lines
    )
    runtime, runtime_error = None, None
    if snapshot.api_error is not None and containers[control_plane.name] == "running":
        runtime, runtime_error = read_runtime(control_plane)
    tags = {}
    if snapshot.registry_port is not None and registry_status == "running":
        port = snapshot.registry_port
        tags = {image: registry_tags(port, image) for image in images_failing_to_pull(snapshot)}
    return replace(
        snapshot,
        registry_tags=tags,
        journals=journals,
        control_plane_runtime=runtime,
        control_plane_runtime_error=runtime_error,
    )


def container_status(node: Node) -> str:
    try:
        node.container.reload()
    except docker.errors.NotFound:
        return "removed"
    return str(node.container.status)


def _console(node: Node) -> str:
    try:
        return node.container.logs(tail=CONSOLE_LINES).decode(errors="replace")
    except docker.errors.DockerException as error:
        return f"unavailable: {error}"


class ApiView(TypedDict, total=False):
    """What the API answered, under LabSnapshot's field names; a field left out keeps the
    snapshot's default (nothing read)."""

    nodes: tuple[k8s.V1Node, ...]
    pods: tuple[k8s.V1Pod, ...]
    events: tuple[k8s.CoreV1Event, ...]
    join_tokens: tuple[str, ...] | None
    api_error: str


def _read_api(lab: LabModel) -> ApiView:
    try:
        api = lab.api_client()
    except LabkitError as error:
        return ApiView(api_error=str(error))
    try:
        core = k8s.CoreV1Api(api)
        nodes = core.list_node(_request_timeout=API_REQUEST_TIMEOUT).items
        pods = core.list_pod_for_all_namespaces(_request_timeout=API_REQUEST_TIMEOUT).items
        events = core.list_event_for_all_namespaces(_request_timeout=API_REQUEST_TIMEOUT).items
        join_tokens = read_join_tokens(core)
    except Exception as error:  # an unreachable API is a finding, not a failure
        return ApiView(api_error=failure_reason(error))
    finally:
        api.close()
    events = sorted(
        events,
        key=lambda e: str(e.last_timestamp or e.event_time or e.metadata.creation_timestamp or ""),
    )
    return ApiView(
        nodes=tuple(nodes),
        pods=tuple(pods),
        events=tuple(events[-EVENTS_KEPT:]),
        join_tokens=join_tokens,
    )


def read_join_tokens(core: k8s.CoreV1Api) -> tuple[str, ...] | None:
    """Ids of the bootstrap tokens a node could join with now; None when unreadable."""
    try:
        secrets = core.list_namespaced_secret(
            "kube-system",
            field_selector=f"type={BOOTSTRAP_TOKEN_TYPE}",
            _request_timeout=API_REQUEST_TIMEOUT,
        ).items
    except Exception:  # evidence is best effort; the rules then say less
        return None
    now = datetime.now(UTC)
    return tuple(sorted(token for token in (usable_join_token(s, now) for s in secrets) if token))


def usable_join_token(secret: k8s.V1Secret, now: datetime) -> str | None:
    """The token id of a bootstrap token Secret that `kubeadm join` can use at `now`: it
    signs cluster-info (discovery) and authenticates the kubelet (TLS bootstrap). The
    token-cleaner removes expired ones, but only every so often."""
    data = {
        key: base64.b64decode(value).decode(errors="replace")
        for key, value in (secret.data or {}).items()
    }
    if (
        data.get("usage-bootstrap-signing") != "true"
        or data.get("usage-bootstrap-authentication") != "true"
    ):
        return None
    expiration = data.get("expiration")
    try:
        if expiration and datetime.fromisoformat(expiration) <= now:
            return None
    except ValueError:
        return None  # the API server refuses such a token too
    return data.get("token-id")


def read_journals(nodes: list[Node], lines: int) -> dict[str, dict[str, str]]:
    """kubelet and containerd journal tails, all nodes and units at once."""
    if not nodes:
        return {}
    pairs = [(node, unit) for node in nodes for unit in JOURNAL_UNITS]

    def read(pair: tuple[Node, str]) -> str:
        node, unit = pair
        try:
            return node.journal(unit, lines)
        except Exception as error:  # a journal is evidence, best effort
            return f"unavailable: {error}"

    with ThreadPoolExecutor(max_workers=len(pairs)) as pool:
        texts = list(pool.map(read, pairs))
    journals: dict[str, dict[str, str]] = {}
    for (node, unit), text in zip(pairs, texts, strict=True):
        journals.setdefault(node.name, {})[unit] = text
    return journals


def _pod_subnet(lab: LabModel) -> str:
    try:
        return lab.state.spec().networking.pod_subnet
    except LabkitError:  # no saved spec, or one this labkit no longer reads
        return DEFAULT_POD_SUBNET
