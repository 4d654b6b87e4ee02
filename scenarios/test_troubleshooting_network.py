"""Troubleshooting a node's network and kubelet, on one 1 + 1 lab brought up without a CNI.

In order: no CNI (nodes NotReady, CoreDNS Pending) until flannel is installed; flannel's
image missing on the worker (ErrImagePull, then ImagePullBackOff) until it is loaded; the
worker's kubelet stopped (the node goes Unknown) until it is started. Each scenario asserts
the symptom as the API shows it, what `diagnose` names, then the fix and the recovery, and
leaves the lab healthy for the next one (which installs the CNI itself if it runs alone).
"""

from __future__ import annotations

import re
import time

import pytest
from kubernetes import client as k8s

from labkit.constants import CNI_MANIFEST
from labkit.diagnose import Diagnosis
from labkit.kubeadm.config import COREDNS_REPLICAS, COREDNS_SELECTOR
from labkit.lab import waits
from labkit.spec import DEFAULT_POD_SUBNET
from labkit.troubleshooting import (
    install_cni,
    node_monitor_grace_period,
    remove_image,
    wait_for_events,
    wait_for_ready_condition,
    watch_waiting_reasons,
)
from labkit.versions import FLANNEL_IMAGE

# No registry: a lost image comes back only by side-loading (test_registry.py has the
# registry's own pull failures).
pytestmark = pytest.mark.lab(workers=1, cni="none", registry="none")

# The kubelet's Ready message with containerd and no CNI config (kubeadm-invariants 8).
NO_CNI_MESSAGE = (
    "container runtime network not ready: NetworkReady=false "
    "reason:NetworkPluginNotReady message:Network plugin returns error: "
    "cni plugin not initialized"
)
NOT_READY_TAINT = ("node.kubernetes.io/not-ready", "NoSchedule")
UNREACHABLE_TAINTS = {
    ("node.kubernetes.io/unreachable", "NoSchedule"),
    ("node.kubernetes.io/unreachable", "NoExecute"),
}
CONTROL_PLANE_TAINT = "node-role.kubernetes.io/control-plane"
# kube-scheduler 1.34 no longer names the taint: "... had untolerated taint(s)."
UNTOLERATED = re.compile(r"^0/\d+ nodes are available: \d+ node\(s\) had untolerated taint")
FLANNEL_NAMESPACE, FLANNEL_SELECTOR = "kube-flannel", "app=flannel"
SYMPTOM_TIMEOUT = 90.0
RECOVERY_TIMEOUT = 180.0
# The kubelet renews its Lease every 10s (a quarter of its 40s duration, 4% jitter); the
# node controller looks every 5s (--node-monitor-period). From the stop, the node goes
# Unknown between grace - 10.4s and grace + 2 x 5s; a starved shared host adds the slack.
LEASE_RENEW_SECONDS = 10.4
NODE_MONITOR_PERIOD = 5.0
SLACK = 5.0


def by_subject(found: tuple[Diagnosis, ...]) -> dict[str, Diagnosis]:
    subjects = {d.subject: d for d in found}
    assert len(subjects) == len(found), f"a subject with two causes: {found}"
    return subjects


def assert_recovered(lab, api: k8s.ApiClient) -> None:
    """The lab is up again as `lab up` means it (every node Ready, the control plane,
    CoreDNS, kube-proxy) and flannel runs on every node; then nothing is left to diagnose.
    A restarted kubelet remounts its pods' volumes only once its caches sync, so CoreDNS
    can lag its node's Ready (CI saw FailedMount: failed to sync configmap cache)."""
    checks = [
        *waits.readiness_checks(api, [n.name for n in lab.nodes]),
        (
            "flannel Running and Ready on every node",
            lambda t: waits.pods_ready(api, FLANNEL_NAMESPACE, FLANNEL_SELECTOR, len(lab.nodes), t),
        ),
    ]
    unmet = waits.first_unmet(checks, RECOVERY_TIMEOUT)
    assert unmet is None, f"not recovered within {RECOVERY_TIMEOUT:.0f}s: {unmet}"
    assert lab.diagnose().diagnoses == ()


def taint_set(node: k8s.V1Node) -> set[tuple[str, str]]:
    return {(t.key, t.effect) for t in node.spec.taints or []}


def unscheduled(pod: k8s.V1Pod) -> bool:
    return any(
        c.type == "PodScheduled" and c.status == "False" for c in pod.status.conditions or []
    )


def test_without_a_cni_nodes_are_not_ready_and_coredns_stays_pending(lab, lab_api) -> None:
    core = k8s.CoreV1Api(lab_api)
    for node in lab.nodes:
        ready = wait_for_ready_condition(
            lab_api, node.name, lambda c: NO_CNI_MESSAGE in (c.message or ""), SYMPTOM_TIMEOUT
        )
        assert ready is not None, f"{node.name}: no NetworkPluginNotReady in its Ready condition"
        assert (ready.status, ready.reason) == ("False", "KubeletNotReady"), ready
        assert NOT_READY_TAINT in taint_set(core.read_node(node.name))

    assert waits.wait_until(
        core.list_namespaced_pod,
        lambda pods: len(pods) == COREDNS_REPLICAS and all(unscheduled(p) for p in pods),
        SYMPTOM_TIMEOUT,
        namespace="kube-system",
        label_selector=COREDNS_SELECTOR,
    )
    for pod in core.list_namespaced_pod("kube-system", label_selector=COREDNS_SELECTOR).items:
        scheduled = next(c for c in pod.status.conditions if c.type == "PodScheduled")
        assert (pod.status.phase, pod.spec.node_name) == ("Pending", None)
        assert scheduled.reason == "Unschedulable"
        assert UNTOLERATED.match(scheduled.message), scheduled.message

    found = by_subject(lab.diagnose().diagnoses)
    assert {d.cause_id for d in found.values()} == {"node.no-cni", "pod.unschedulable"}
    for node in lab.nodes:
        no_cni = found[f"node/{node.name}"]
        assert no_cni.cause_id == "node.no-cni"
        assert CNI_MANIFEST in no_cni.fix and DEFAULT_POD_SUBNET in no_cni.fix
    for diagnosis in found.values():
        if diagnosis.cause_id == "pod.unschedulable":
            assert diagnosis.subject.startswith("pod/kube-system/coredns-")
            assert "taint node.kubernetes.io/not-ready" in diagnosis.summary
            # CoreDNS tolerates the control-plane taint: it must not be blamed.
            assert CONTROL_PLANE_TAINT not in diagnosis.summary

    install_cni(lab)

    assert waits.wait_until(
        core.list_node,
        lambda nodes: all(NOT_READY_TAINT not in taint_set(n) for n in nodes),
        SYMPTOM_TIMEOUT,
    )
    for node in core.list_node().items:
        ready = next(c for c in node.status.conditions if c.type == "Ready")
        assert (ready.status, ready.reason) == ("True", "KubeletReady")
    running = core.list_namespaced_pod("kube-system", label_selector=COREDNS_SELECTOR).items
    assert [p.status.phase for p in running] == ["Running"] * COREDNS_REPLICAS
    assert lab.diagnose().diagnoses == ()


def test_a_missing_cni_image_goes_err_image_pull_then_back_off(lab, lab_api) -> None:
    install_cni(lab)
    core = k8s.CoreV1Api(lab_api)
    worker = lab.workers[0]
    ready_before = wait_for_ready_condition(
        lab_api, worker.name, lambda c: c.status == "True", SYMPTOM_TIMEOUT
    )
    old = core.list_namespaced_pod(
        FLANNEL_NAMESPACE,
        label_selector=FLANNEL_SELECTOR,
        field_selector=f"spec.nodeName={worker.name}",
    ).items
    assert len(old) == 1

    removed = remove_image(worker, FLANNEL_IMAGE)
    assert FLANNEL_IMAGE in removed
    core.delete_namespaced_pod(old[0].metadata.name, FLANNEL_NAMESPACE)

    pod, reasons = watch_waiting_reasons(
        lab_api,
        FLANNEL_NAMESPACE,
        FLANNEL_SELECTOR,
        node=worker.name,
        skip={old[0].metadata.uid},
        until="ImagePullBackOff",
        timeout=SYMPTOM_TIMEOUT,
        every_container=True,
    )
    assert pod is not None, "the DaemonSet made no new pod on the worker"
    # Both containers (kube-flannel, install-cni) run flannel's image and back off. Before
    # the kubelet tries to pull, a container is ContainerCreating; the kubelet reports
    # status in batches, so one container's short ErrImagePull may not be seen (the events
    # below keep the order), but a back-off is never followed by anything else here.
    assert set(reasons) == {"kube-flannel", "install-cni"}, reasons
    for seen in reasons.values():
        pulls = [r for r in seen if r != "ContainerCreating"]
        assert pulls in (["ErrImagePull", "ImagePullBackOff"], ["ImagePullBackOff"]), reasons
    assert any("ErrImagePull" in seen for seen in reasons.values()), reasons
    for status in pod.status.container_statuses:
        assert status.state.waiting.message.startswith(
            f'Back-off pulling image "{FLANNEL_IMAGE}": ErrImagePull: '
        ), status
    name = pod.metadata.name
    expected = [
        ("Pulling", f'Pulling image "{FLANNEL_IMAGE}"'),
        ("Failed", f'Failed to pull image "{FLANNEL_IMAGE}": '),
        ("Failed", "Error: ErrImagePull"),
        ("BackOff", f'Back-off pulling image "{FLANNEL_IMAGE}"'),
        ("Failed", "Error: ImagePullBackOff"),
    ]

    def first(events: list[k8s.CoreV1Event], reason: str, prefix: str) -> k8s.CoreV1Event | None:
        return next(
            (e for e in events if e.reason == reason and (e.message or "").startswith(prefix)), None
        )

    events = wait_for_events(
        lab_api,
        FLANNEL_NAMESPACE,
        name,
        lambda found: all(first(found, *wanted) for wanted in expected),
        SYMPTOM_TIMEOUT,
    )
    seen = [first(events, *wanted) for wanted in expected]
    assert all(seen), [(e.reason, e.message) for e in events]
    # containerd 2's wording: the registry's name does not resolve from the lab.
    host = FLANNEL_IMAGE.split("/", 1)[0]
    assert f'failed to pull and unpack image "{FLANNEL_IMAGE}"' in seen[1].message
    assert f"lookup {host}" in seen[1].message and "no such host" in seen[1].message
    times = [e.first_timestamp for e in seen]
    assert times == sorted(times), [(e.reason, e.message, e.first_timestamp) for e in seen]

    # The node keeps its CNI config (/etc/cni/net.d) and the plugin: it stays Ready.
    ready = next(c for c in core.read_node(worker.name).status.conditions if c.type == "Ready")
    assert ready.status == "True"
    assert ready.last_transition_time == ready_before.last_transition_time

    found = by_subject(lab.diagnose().diagnoses)
    assert [d.cause_id for d in found.values()] == ["pod.image-pull"], found
    pull = found[f"pod/{FLANNEL_NAMESPACE}/{name}"]
    assert pull.summary == f"pod {name} cannot pull image {FLANNEL_IMAGE} on node {worker.name}"
    assert f"labkit lab load-image {lab.name} {FLANNEL_IMAGE} --nodes {worker.name}" in pull.fix

    assert lab.load_image(FLANNEL_IMAGE, nodes=[worker]) == [worker.name]
    # The kubelet's next pull attempt (after its back-off) finds the image.
    assert_recovered(lab, lab_api)


def test_a_stopped_kubelet_makes_its_node_unknown_within_the_grace_period(lab, lab_api) -> None:
    install_cni(lab)
    worker = lab.workers[0]
    grace = node_monitor_grace_period(lab)

    worker.exec(["systemctl", "stop", "kubelet"])
    stopped = time.monotonic()
    try:
        unknown = wait_for_ready_condition(
            lab_api, worker.name, lambda c: c.status == "Unknown", grace + 60
        )
        elapsed = time.monotonic() - stopped
        print(
            f"\n{worker.name}: Ready=Unknown {elapsed:.1f}s after `systemctl stop kubelet` "
            f"(node-monitor-grace-period {grace:.0f}s)"
        )
        assert unknown is not None, f"{worker.name} still not Unknown after {grace + 60:.0f}s"
        assert (unknown.reason, unknown.message) == (
            "NodeStatusUnknown",
            "Kubelet stopped posting node status.",
        )
        assert (
            grace - LEASE_RENEW_SECONDS - 1 <= elapsed <= grace + 2 * NODE_MONITOR_PERIOD + SLACK
        ), elapsed
        core = k8s.CoreV1Api(lab_api)
        assert waits.wait_until(
            core.list_node,
            lambda nodes: UNREACHABLE_TAINTS.issubset(taint_set(nodes[0])),
            SYMPTOM_TIMEOUT,
            field_selector=f"metadata.name={worker.name}",
        )

        found = by_subject(lab.diagnose().diagnoses)
        stopped_kubelet = found[f"node/{worker.name}"]
        assert stopped_kubelet.cause_id == "node.kubelet-stopped"
        assert "systemd shows the kubelet stopped" in stopped_kubelet.summary
        assert (
            f"labkit lab exec {lab.name} {worker.name} -- systemctl restart kubelet"
            in stopped_kubelet.fix
        )
    finally:
        worker.exec(["systemctl", "start", "kubelet"])

    assert wait_for_ready_condition(
        lab_api, worker.name, lambda c: c.status == "True", SYMPTOM_TIMEOUT
    )
    # The node controller marked the worker's pods not Ready; its kubelet reports them again.
    assert_recovered(lab, lab_api)
