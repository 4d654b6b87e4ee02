"""Version skew: a worker one minor older than the control plane (its release's image and
kubelet, the control plane's kubeadm) joins and is Ready, as kinder's skew-kubelet
workflows run it."""

from __future__ import annotations

import pytest
from kubernetes import client as k8s

from labkit.facade import Lab
from labkit.lab.workloads import delete_probe_pods, exec_in_pod, probe_pod, run_probe_pods
from labkit.suites.shared import kubeadm_suite_problems_with_one_control_plane
from labkit.versions import DEFAULT_VERSION, PREVIOUS_MINOR_VERSION

pytestmark = pytest.mark.lab(
    workers=1, nodes={"worker": {"kubernetes_version": PREVIOUS_MINOR_VERSION}}
)


def kubelet_versions(lab: Lab) -> dict[str, str]:
    nodes = k8s.CoreV1Api(lab.api_client()).list_node().items
    return {n.metadata.name: n.status.node_info.kubelet_version for n in nodes}


def test_the_older_worker_joined_and_is_ready(lab: Lab) -> None:
    nodes = k8s.CoreV1Api(lab.api_client()).list_node().items
    ready = {
        n.metadata.name: any(c.type == "Ready" and c.status == "True" for c in n.status.conditions)
        for n in nodes
    }
    assert ready == {n.name: True for n in lab.nodes}
    assert kubelet_versions(lab) == {
        lab.control_plane.name: str(DEFAULT_VERSION),
        lab.workers[0].name: PREVIOUS_MINOR_VERSION,
    }


def test_the_older_worker_runs_its_release_image(lab: Lab) -> None:
    worker = lab.workers[0]
    assert worker.container.image.tags == [f"labkit/node:{PREVIOUS_MINOR_VERSION}"]
    assert worker.output(["kubelet", "--version"]).strip() == f"Kubernetes {PREVIOUS_MINOR_VERSION}"


def test_a_pod_on_the_older_worker_resolves_the_cluster_dns(lab: Lab) -> None:
    pods = [probe_pod("skewed", lab.workers[0].name, ["sleep", "3600"])]
    run_probe_pods(lab, pods)
    try:
        result = exec_in_pod(lab, "skewed", ["nslookup", "kubernetes.default"])
        assert result.ok, result.stdout + result.stderr
        assert "Address: 10.96.0.1" in result.stdout
    finally:
        delete_probe_pods(lab, pods)


def test_kubeadms_e2e_suite_passes_with_the_older_worker(lab_conformance) -> None:
    """kinder runs e2e_kubeadm after its skew workflows too; the suite is the control plane's
    release (the API server's), and its `[multi-node]` specs read the older worker as well.
    Only `[copy-certs]` is left out (one control plane: no kubeadm-certs Secret)."""
    problems = kubeadm_suite_problems_with_one_control_plane(lab_conformance("kubeadm"))
    assert not problems, "\n".join(problems)
