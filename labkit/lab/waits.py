"""Waiting on the API with watches: each wait ends on the event that satisfies it."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from kubernetes import client as k8s
from kubernetes import watch
from kubernetes.client.exceptions import ApiException

from labkit.constants import READY_TIMEOUT
from labkit.errors import StepFailed
from labkit.kubeadm.config import (
    CONTROL_PLANE_COMPONENTS,
    CONTROL_PLANE_SELECTOR,
    COREDNS_REPLICAS,
    COREDNS_SELECTOR,
    KUBE_PROXY_SELECTOR,
)
from labkit.lab.api import API_FAILURES
from labkit.lab.evidence import cluster_evidence, node_evidence
from labkit.lab.node import Node

# What an API server answers while it restarts, apart from refused or reset connections.
_TRANSIENT_STATUSES = (403, 429, 500, 502, 503, 504)
_RETRY_INTERVAL = 1.0

# A named condition of a lab, waited on for up to the given seconds.
ReadyCheck = tuple[str, Callable[[float], bool]]


def wait_until(
    list_call: Callable[..., Any],
    satisfied: Callable[[list[Any]], bool],
    timeout: float,
    **list_args: Any,
) -> bool:
    """List once, then watch, re-evaluating `satisfied` on the full set of objects after
    every event, until it holds or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if _listed_then_watched(list_call, satisfied, deadline, list_args):
                return True
        except API_FAILURES as error:
            # An API server that restarts (a kubelet recreating the static pods, an upgrade)
            # refuses, resets or answers 403/5xx for a while: the wait goes on until its end.
            if isinstance(error, ApiException) and error.status not in _TRANSIENT_STATUSES:
                raise
            time.sleep(_RETRY_INTERVAL)
    return False


def _listed_then_watched(
    list_call: Callable[..., Any],
    satisfied: Callable[[list[Any]], bool],
    deadline: float,
    list_args: dict[str, Any],
) -> bool:
    """One list and one watch after it; True once `satisfied` holds."""
    listing = list_call(**list_args)
    objects = {o.metadata.uid: o for o in listing.items}
    if satisfied(list(objects.values())):
        return True
    remaining = max(1, int(deadline - time.monotonic()))
    stream = watch.Watch()
    try:
        version = listing.metadata.resource_version
        for event in stream.stream(
            list_call, resource_version=version, timeout_seconds=remaining, **list_args
        ):
            obj = event["object"]
            if event["type"] == "DELETED":
                objects.pop(obj.metadata.uid, None)
            else:
                objects[obj.metadata.uid] = obj
            if satisfied(list(objects.values())):
                stream.stop()
                return True
    except ApiException as error:
        if error.status != 410:  # 410 Gone: our resourceVersion expired; list again
            raise
    return False


def is_ready(node: k8s.V1Node) -> bool:
    """The node's Ready condition is True (a node that posted no status yet is not)."""
    conditions = (node.status.conditions if node.status else None) or []
    return any(c.type == "Ready" and c.status == "True" for c in conditions)


def pod_running_and_ready(pod: k8s.V1Pod) -> bool:
    return pod.status.phase == "Running" and any(
        c.type == "Ready" and c.status == "True" for c in pod.status.conditions or []
    )


def nodes_ready(api: k8s.ApiClient, names: list[str], timeout: float) -> bool:
    core = k8s.CoreV1Api(api)
    return wait_until(
        core.list_node,
        lambda nodes: set(names) <= {n.metadata.name for n in nodes if is_ready(n)},
        timeout,
    )


def nodes_registered(api: k8s.ApiClient, names: list[str], timeout: float) -> bool:
    core = k8s.CoreV1Api(api)
    return wait_until(
        core.list_node, lambda nodes: set(names) <= {n.metadata.name for n in nodes}, timeout
    )


def pods_ready(
    api: k8s.ApiClient,
    namespace: str,
    selector: str,
    count: int,
    timeout: float,
    *,
    every: bool = False,
) -> bool:
    """At least `count` pods Running and Ready; with `every`, also no other live pod that is
    not (a rollout's new pods count: `labkit check` fails any of them not Ready)."""
    core = k8s.CoreV1Api(api)

    def met(pods: list[k8s.V1Pod]) -> bool:
        if not every:
            return sum(pod_running_and_ready(p) for p in pods) >= count
        live = live_pods(pods)
        return len(live) >= count and all(pod_running_and_ready(p) for p in live)

    return wait_until(
        core.list_namespaced_pod, met, timeout, namespace=namespace, label_selector=selector
    )


def live_pods(pods: list[k8s.V1Pod]) -> list[k8s.V1Pod]:
    """Pods neither ended (Succeeded, Failed) nor being deleted."""
    return [
        p
        for p in pods
        if p.metadata.deletion_timestamp is None and p.status.phase not in ("Succeeded", "Failed")
    ]


def control_plane_at(api: k8s.ApiClient, tag: str, control_planes: int, timeout: float) -> bool:
    """Every control-plane component but etcd (whose tag is etcd's own release) on every
    control plane runs an image tagged `tag`, Running and Ready."""
    components = [c for c in CONTROL_PLANE_COMPONENTS if c != "etcd"]

    def upgraded(pods: list[k8s.V1Pod]) -> bool:
        current = [
            p
            for p in pods
            if p.metadata.labels.get("component") in components
            and pod_running_and_ready(p)
            and all(c.image.endswith(f":{tag}") for c in p.spec.containers)
        ]
        return len(current) >= len(components) * control_planes

    return wait_until(
        k8s.CoreV1Api(api).list_namespaced_pod,
        upgraded,
        timeout,
        namespace="kube-system",
        label_selector=CONTROL_PLANE_SELECTOR,
    )


def readiness_checks(
    api: k8s.ApiClient, nodes: list[str], *, control_planes: int = 1, cni: bool = True
) -> list[ReadyCheck]:
    """What "the lab is up" means, in the order it happens: every node Ready, the control
    plane's static pods Ready, CoreDNS Running and Ready, kube-proxy on every node. Without
    a CNI nodes stay NotReady by design, so only what can still be up: every node
    registered, the control plane and kube-proxy (their pods use the host's network)."""
    control_plane = (
        "control plane Running and Ready",
        lambda t: pods_ready(
            api,
            "kube-system",
            CONTROL_PLANE_SELECTOR,
            len(CONTROL_PLANE_COMPONENTS) * control_planes,
            t,
            every=True,
        ),
    )
    kube_proxy = (
        "kube-proxy running on every node",
        lambda t: pods_ready(api, "kube-system", KUBE_PROXY_SELECTOR, len(nodes), t, every=True),
    )
    if not cni:
        return [
            ("every node registered", lambda t: nodes_registered(api, nodes, t)),
            control_plane,
            kube_proxy,
        ]
    return [
        ("every node Ready", lambda t: nodes_ready(api, nodes, t)),
        control_plane,
        (
            "CoreDNS Running and Ready",
            lambda t: pods_ready(
                api, "kube-system", COREDNS_SELECTOR, COREDNS_REPLICAS, t, every=True
            ),
        ),
        kube_proxy,
    ]


def first_unmet(
    checks: list[ReadyCheck], timeout: float, on_met: Callable[[str], None] | None = None
) -> str | None:
    """Wait for each check in turn, all within `timeout`; the title of the first one not
    met in time, or None."""
    deadline = time.monotonic() + timeout
    for title, check in checks:
        if not check(max(1.0, deadline - time.monotonic())):
            return title
        if on_met:
            on_met(title)
    return None


def ready_or_fail(
    checks: list[ReadyCheck],
    api: k8s.ApiClient,
    nodes: Sequence[Node],
    say: Callable[[str], None],
    timeout: float = READY_TIMEOUT,
) -> None:
    """Wait for each check in turn (saying each one met); when one is not met in time,
    fail with the cluster's evidence and every node's journals."""
    unmet = first_unmet(checks, timeout, on_met=lambda title: say(f"   {title}"))
    if unmet is None:
        return
    evidence = cluster_evidence(api)
    for node in nodes:
        evidence.update(node_evidence(node, lines=20))
    raise StepFailed(reason=f"{unmet}: not reached within {timeout:.0f}s", evidence=evidence)
