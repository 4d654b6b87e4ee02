"""What `lab up` waits for, with and without a CNI (no API: the waits are recorded)."""

from __future__ import annotations

import pytest
from kubernetes import client as k8s

from labkit.lab import waits

NODES = ["lab-control-plane", "lab-worker", "lab-worker2"]


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    calls: list[tuple] = []
    monkeypatch.setattr(
        waits,
        "pods_ready",
        lambda api, ns, selector, count, t, every=False: (
            calls.append(("pods", ns, selector, count, every)) or True
        ),
    )
    monkeypatch.setattr(
        waits,
        "nodes_ready",
        lambda api, names, t: calls.append(("nodes Ready", tuple(names))) or True,
    )
    monkeypatch.setattr(
        waits,
        "nodes_registered",
        lambda api, names, t: calls.append(("nodes registered", tuple(names))) or True,
    )
    return calls


def test_with_a_cni_every_node_the_control_plane_coredns_and_kube_proxy(recorded) -> None:
    checks = waits.readiness_checks(None, NODES)
    assert waits.first_unmet(checks, 10) is None
    assert recorded == [
        ("nodes Ready", tuple(NODES)),
        ("pods", "kube-system", "tier=control-plane", 4, True),
        ("pods", "kube-system", "k8s-app=kube-dns", 2, True),
        ("pods", "kube-system", "k8s-app=kube-proxy", 3, True),
    ]


def test_without_a_cni_what_runs_on_the_hosts_network_is_still_waited_for(recorded) -> None:
    # The control plane's static pods and kube-proxy need no CNI; a lab returned before
    # they are Ready shows their start-up (probe failures, a missing kube-root-ca.crt) as
    # problems.
    checks = waits.readiness_checks(None, NODES, control_planes=1, cni=False)
    assert waits.first_unmet(checks, 10) is None
    assert recorded == [
        ("nodes registered", tuple(NODES)),
        ("pods", "kube-system", "tier=control-plane", 4, True),
        ("pods", "kube-system", "k8s-app=kube-proxy", 3, True),
    ]


def test_the_first_unmet_condition_is_named_and_the_rest_not_waited_for() -> None:
    met: list[str] = []
    checks = [("a", lambda t: True), ("b", lambda t: False), ("c", lambda t: True)]
    assert waits.first_unmet(checks, 10, on_met=met.append) == "b"
    assert met == ["a"]


def test_a_wait_outlasts_an_api_server_restart(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refused, then 403 while RBAC syncs, then the answer: the wait goes on."""
    from types import SimpleNamespace

    import urllib3
    from kubernetes.client.exceptions import ApiException

    monkeypatch.setattr(waits, "_RETRY_INTERVAL", 0)
    answers: list[object] = [
        urllib3.exceptions.MaxRetryError(None, "/api/v1/nodes", "connection refused"),
        ApiException(status=403, reason="Forbidden"),
    ]

    def list_nodes(**_: object) -> object:
        if answers:
            raise answers.pop(0)  # type: ignore[misc]
        node = SimpleNamespace(metadata=SimpleNamespace(uid="1"))
        return SimpleNamespace(items=[node], metadata=SimpleNamespace(resource_version="1"))

    assert waits.wait_until(list_nodes, lambda nodes: len(nodes) == 1, 10)
    assert answers == []


def test_a_wait_stops_at_an_error_that_is_not_a_restart() -> None:
    from kubernetes.client.exceptions import ApiException

    def list_nodes(**_: object) -> object:
        raise ApiException(status=404, reason="Not Found")

    with pytest.raises(ApiException):
        waits.wait_until(list_nodes, lambda nodes: True, 10)


def pod(ready: bool, *, deleting: bool = False, phase: str = "Running") -> k8s.V1Pod:
    return k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(deletion_timestamp="2026-12-02T10:53:00Z" if deleting else None),
        status=k8s.V1PodStatus(
            phase=phase, conditions=[k8s.V1PodCondition(type="Ready", status=str(ready))]
        ),
    )


@pytest.mark.parametrize(
    ("pods", "every", "met"),
    [
        # A CoreDNS rollout after kubeadm upgraded it: the old pair still Ready, the new not.
        ([pod(True), pod(True), pod(False), pod(False)], False, True),
        ([pod(True), pod(True), pod(False), pod(False)], True, False),
        # Old pods being deleted and an ended one do not count against it.
        ([pod(True), pod(True), pod(False, deleting=True), pod(False, phase="Succeeded")],
         True, True),
        # A pod being deleted but still Ready is not one of them: it holds nothing.
        ([pod(True), pod(True), pod(True, deleting=True)], True, True),
        ([pod(True), pod(True, deleting=True)], True, False),
        ([pod(True)], True, False),
    ],
)  # fmt: skip
def test_every_pod_ready_waits_out_a_rollout(monkeypatch, pods, every: bool, met: bool) -> None:
    monkeypatch.setattr(
        waits, "wait_until", lambda call, condition, timeout, **kwargs: condition(pods)
    )
    assert waits.pods_ready(None, "kube-system", "k8s-app=kube-dns", 2, 1, every=every) == met
