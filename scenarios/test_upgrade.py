"""`labkit lab upgrade` takes a 1 + 1 lab from the previous minor to the default release the
way kubeadm documents it, while a Deployment guarded by a PodDisruptionBudget keeps serving,
and its worker, limited to 1 CPU and 2 GiB, keeps an allocatable within those limits.

One lab per module: the workload is sampled during the upgrade, and every test reads the
upgraded lab (or, for the downgrade, what it refused).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

import pytest
from cryptography import x509
from kubernetes import client as k8s
from kubernetes.utils import parse_quantity

from labkit.checks.lab import check_lab
from labkit.constants import PKI_DIR
from labkit.errors import LabkitError
from labkit.facade import Lab
from labkit.lab.upgrade import UpgradeResult, upgrade_lab
from labkit.pipeline import Progress
from labkit.suites.shared import kubeadm_suite_problems_with_one_control_plane
from labkit.versions import (
    DEFAULT_VERSION,
    PREVIOUS_MINOR_VERSION,
    TOOLBOX_IMAGE,
    KubernetesVersion,
)

# The worker is limited: its kubelet's reservation (a kubeadm patch of that node alone) must
# survive kubeadm upgrade node, which writes the kubelet's config anew from the cluster's.
WORKER_LIMITS = {"cpus": 1, "memory": "2Gi"}
GIB = 2**30
pytestmark = pytest.mark.lab(
    workers=1,
    kubernetes_version=PREVIOUS_MINOR_VERSION,
    nodes={"worker": {"resources": WORKER_LIMITS}},
)

APP = "web"
REPLICAS = 2
SAMPLE_EVERY = 0.5


def web_deployment() -> k8s.V1Deployment:
    """Two replicas that may run on either node (they tolerate the control plane's taint),
    so that draining one node moves them to the other."""
    labels = {"app": APP}
    container = k8s.V1Container(
        name=APP,
        image=TOOLBOX_IMAGE,
        image_pull_policy="IfNotPresent",
        command=["socat", "TCP-LISTEN:8080,fork,reuseaddr", "SYSTEM:echo ok"],
        readiness_probe=k8s.V1Probe(tcp_socket=k8s.V1TCPSocketAction(port=8080), period_seconds=1),
    )
    spec = k8s.V1PodSpec(
        containers=[container],
        termination_grace_period_seconds=0,
        tolerations=[
            k8s.V1Toleration(
                key="node-role.kubernetes.io/control-plane", operator="Exists", effect="NoSchedule"
            )
        ],
    )
    return k8s.V1Deployment(
        metadata=k8s.V1ObjectMeta(name=APP),
        spec=k8s.V1DeploymentSpec(
            replicas=REPLICAS,
            selector=k8s.V1LabelSelector(match_labels=labels),
            template=k8s.V1PodTemplateSpec(metadata=k8s.V1ObjectMeta(labels=labels), spec=spec),
        ),
    )


def budget() -> k8s.V1PodDisruptionBudget:
    return k8s.V1PodDisruptionBudget(
        metadata=k8s.V1ObjectMeta(name=APP),
        spec=k8s.V1PodDisruptionBudgetSpec(
            min_available=1, selector=k8s.V1LabelSelector(match_labels={"app": APP})
        ),
    )


@dataclass
class Sampler:
    """Ready replicas of the Deployment every half second, while the API answers."""

    api: k8s.ApiClient
    samples: list[int] = field(default_factory=list)
    unanswered: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        apps = k8s.AppsV1Api(self.api)
        while not self._stop.wait(SAMPLE_EVERY):
            try:
                status = apps.read_namespaced_deployment_status(APP, "default", _request_timeout=3)
            except Exception:  # the API server restarts during the upgrade
                self.unanswered += 1
                continue
            self.samples.append(status.status.ready_replicas or 0)

    def stop(self) -> None:
        self._stop.set()


@dataclass(frozen=True)
class Upgraded:
    lab: Lab
    result: UpgradeResult
    sampler: Sampler
    serving_cert_before: datetime


def apiserver_not_before(lab: Lab) -> datetime:
    pem = lab.control_plane.read_file(f"{PKI_DIR}/apiserver.crt")
    return x509.load_pem_x509_certificate(pem).not_valid_before_utc


def start_web(lab: Lab) -> None:
    """The Deployment and its PodDisruptionBudget, with every replica Ready."""
    api = lab.api_client()
    apps = k8s.AppsV1Api(api)
    apps.create_namespaced_deployment("default", web_deployment())
    k8s.PolicyV1Api(api).create_namespaced_pod_disruption_budget("default", budget())
    deadline = time.monotonic() + 120
    while (apps.read_namespaced_deployment_status(APP, "default").status.ready_replicas or 0) < (
        REPLICAS
    ):
        assert time.monotonic() < deadline, "the Deployment never had its replicas Ready"
        time.sleep(1)


@contextmanager
def sampling(lab: Lab) -> Iterator[Sampler]:
    """The Deployment's Ready replicas, sampled in the background while the block runs."""
    sampler = Sampler(lab.api_client())
    thread = threading.Thread(target=sampler.run, daemon=True)
    thread.start()
    try:
        yield sampler
    finally:
        sampler.stop()
        thread.join()


@pytest.fixture(scope="module")
def upgraded(lab):
    start_web(lab)
    before = apiserver_not_before(lab)
    time.sleep(1.5)  # renewed certificates differ by a second at least
    with sampling(lab) as sampler:
        result = lab.upgrade(to=DEFAULT_VERSION)
    return Upgraded(lab, result, sampler, before)


def test_every_kubelet_reports_the_target(upgraded: Upgraded) -> None:
    nodes = k8s.CoreV1Api(upgraded.lab.api_client()).list_node().items
    assert {n.metadata.name: n.status.node_info.kubelet_version for n in nodes} == {
        n.name: str(DEFAULT_VERSION) for n in upgraded.lab.nodes
    }


def test_the_control_plane_runs_the_target_images(upgraded: Upgraded) -> None:
    pods = k8s.CoreV1Api(upgraded.lab.api_client()).list_namespaced_pod(
        "kube-system", label_selector="component=kube-apiserver"
    )
    assert [c.image for p in pods.items for c in p.spec.containers] == [
        f"registry.k8s.io/kube-apiserver:{DEFAULT_VERSION}"
    ]


def test_the_workload_stayed_available_and_kept_its_replicas(upgraded):
    samples = upgraded.sampler.samples
    assert len(samples) > 20 and min(samples) >= 1, samples
    web = upgraded.lab.kubectl("get", "deployment", "web", json=True)
    assert web["status"]["readyReplicas"] == 2


def test_the_limited_workers_allocatable_stays_within_its_limits(upgraded: Upgraded) -> None:
    (worker,) = [n for n in upgraded.lab.nodes if not n.is_control_plane]
    node = k8s.CoreV1Api(upgraded.lab.api_client()).read_node(worker.name)
    allocatable = node.status.allocatable
    print(f"allocatable of the limited worker after the upgrade: {allocatable}")
    assert node.status.node_info.kubelet_version == str(DEFAULT_VERSION)
    assert 0 < parse_quantity(allocatable["memory"]) <= 2 * GIB
    assert 0 < parse_quantity(allocatable["cpu"]) <= 1


def test_upgrade_apply_renewed_the_certificates(upgraded: Upgraded) -> None:
    assert apiserver_not_before(upgraded.lab) > upgraded.serving_cert_before


def test_every_step_was_timed(upgraded: Upgraded) -> None:
    names = [t.name for t in upgraded.result.timings]
    assert names[0] == "check the lab and the target"
    assert "upgrade the first control plane" in names
    assert names[-1] == "wait until upgraded"


def test_check_passes_after_the_upgrade(upgraded: Upgraded) -> None:
    run = check_lab(upgraded.lab)
    assert run.failures == [], "\n".join(str(f) for f in run.failures)


def test_kubeadms_e2e_suite_passes_after_the_upgrade(upgraded: Upgraded, lab_conformance) -> None:
    """As kinder's upgrade workflows do: e2e_kubeadm of the target release against the
    upgraded lab (what `kubeadm upgrade` rewrote: kubeadm-config, kubelet-config, RBAC,
    CoreDNS, kube-proxy). Only `[copy-certs]` is left out (one control plane)."""
    problems = kubeadm_suite_problems_with_one_control_plane(lab_conformance("kubeadm"))
    assert not problems, "\n".join(problems)


def test_a_downgrade_is_refused_and_changes_nothing(upgraded: Upgraded) -> None:
    lab = upgraded.lab
    with pytest.raises(LabkitError, match="kubeadm does not downgrade"):
        upgrade_lab(lab, KubernetesVersion.parse(PREVIOUS_MINOR_VERSION), progress=Progress())
    nodes = k8s.CoreV1Api(lab.api_client()).list_node().items
    assert {n.status.node_info.kubelet_version for n in nodes} == {str(DEFAULT_VERSION)}
    assert all(not n.spec.unschedulable for n in nodes)
