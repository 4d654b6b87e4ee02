"""A fresh 1 + 2 lab works: every node Ready, pods resolve names and reach each other."""

from __future__ import annotations

import io
import ipaddress

import pytest
from kubernetes import client as k8s

from labkit.lab.workloads import (
    delete_probe_pods,
    exec_in_pod,
    kubectl,
    probe_pod,
    run_probe_pods,
)
from labkit.nodeimage.registry_image import published_port
from labkit.spec.types import DEFAULT_SERVICE_SUBNET
from labkit.versions import CNI_PLUGINS_VERSION, CONTAINERD_VERSION, RUNC_VERSION

pytestmark = pytest.mark.lab(workers=2)

GREETING_PORT = 8080


def test_every_node_is_ready_in_kubectl(lab) -> None:
    result = kubectl(lab, "get", "nodes", "--no-headers")
    assert result.ok, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()]
    assert sorted(row[0] for row in rows) == sorted(node.name for node in lab.nodes)
    assert all(row[1] == "Ready" for row in rows), result.stdout


def test_every_node_runs_the_runtime_labkit_builds(lab) -> None:
    for node in lab.nodes:
        containerd = node.exec(["containerd", "--version"]).stdout.split()
        assert containerd[2] == CONTAINERD_VERSION, f"{node.name}: {containerd}"
        runc = node.exec(["runc", "--version"]).stdout
        assert f"runc version {RUNC_VERSION.lstrip('v')}\n" in runc, f"{node.name}: {runc}"
        bridge = node.exec(["/opt/cni/bin/bridge", "--version"], check=False)
        assert f"CNI bridge plugin {CNI_PLUGINS_VERSION}" in bridge.stdout + bridge.stderr


def test_the_kubelet_takes_its_cgroup_driver_from_the_runtime(lab) -> None:
    """containerd 2 answers the CRI RuntimeConfig call: no fallback to the kubelet's own
    cgroupDriver, which Kubernetes is removing (kubernetes/enhancements#6087)."""
    for node in lab.nodes:
        journal = node.exec(["journalctl", "-u", "kubelet", "--no-pager", "-o", "cat"]).stdout
        assert "Using cgroup driver setting received from the CRI runtime" in journal, node.name
        assert "CRI implementation should be updated" not in journal, node.name


def test_a_pod_mounts_an_image_as_a_volume(lab) -> None:
    """An image volume (containerd 2.1 and later; 1.6 cannot) of an image the node holds:
    the kube-proxy image's files appear read-only in the toolbox container."""
    kube_proxy = next(
        line
        for line in lab.control_plane.exec(["cat", "/kind/images.txt"]).stdout.split()
        if "/kube-proxy:" in line
    )
    pod = probe_pod("image-volume", lab.workers[0].name, ["sleep", "infinity"])
    pod.spec.volumes = [
        k8s.V1Volume(
            name="kube-proxy-image",
            image=k8s.V1ImageVolumeSource(reference=kube_proxy, pull_policy="IfNotPresent"),
        )
    ]
    pod.spec.containers[0].volume_mounts = [
        k8s.V1VolumeMount(name="kube-proxy-image", mount_path="/image")
    ]
    run_probe_pods(lab, [pod])
    try:
        listed = exec_in_pod(lab, "image-volume", ["ls", "/image/usr/local/bin"])
        assert listed.stdout.split() == ["kube-proxy"], listed.stdout + listed.stderr
        written = exec_in_pod(lab, "image-volume", ["touch", "/image/written"])
        assert not written.ok and "Read-only file system" in written.stderr, written
    finally:
        delete_probe_pods(lab, [pod])


def test_a_privileged_pod_runs_on_the_test_handler(lab) -> None:
    """The RuntimeClass e2e specs' handler exists, and a privileged pod on it starts (where
    the host cannot grant every capability, through labkit-runc on both handlers)."""
    node_api = k8s.NodeV1Api(lab.api_client())
    runtime_class = k8s.V1RuntimeClass(
        metadata=k8s.V1ObjectMeta(name="labkit-test-handler"), handler="test-handler"
    )
    node_api.create_runtime_class(runtime_class)
    pod = probe_pod("privileged-test-handler", lab.workers[1].name, ["sleep", "infinity"])
    pod.spec.runtime_class_name = "labkit-test-handler"
    pod.spec.containers[0].security_context = k8s.V1SecurityContext(privileged=True)
    try:
        run_probe_pods(lab, [pod])
        # Only a privileged container may make a network device.
        made = exec_in_pod(
            lab,
            pod.metadata.name,
            ["ip", "link", "add", "lk0", "type", "veth", "peer", "name", "lk1"],
        )
        assert made.ok, made.stdout + made.stderr
    finally:
        delete_probe_pods(lab, [pod])
        node_api.delete_runtime_class("labkit-test-handler")


@pytest.fixture(scope="module")
def probe_pods(lab):
    server = f"socat TCP-LISTEN:{GREETING_PORT},fork,reuseaddr SYSTEM:'echo hello from $(hostname)'"
    pods = [
        probe_pod(f"probe-{i}", worker.name, ["sh", "-c", server])
        for i, worker in enumerate(lab.workers, start=1)
    ]
    yield run_probe_pods(lab, pods)
    delete_probe_pods(lab, pods)


def test_pods_landed_one_per_worker(lab, probe_pods) -> None:
    assert sorted(p.spec.node_name for p in probe_pods) == sorted(w.name for w in lab.workers)


def test_each_pod_resolves_kubernetes_default_through_coredns(probe_pods, lab) -> None:
    for pod in probe_pods:
        result = exec_in_pod(lab, pod.metadata.name, ["nslookup", "kubernetes.default"])
        assert result.ok, f"{pod.metadata.name}: {result.stdout}{result.stderr}"
        assert "10.96.0.10" in result.stdout  # the answer came from the kube-dns Service
        assert "Address: 10.96.0.1" in result.stdout


def test_each_pod_reaches_the_pod_on_the_other_worker(probe_pods, lab) -> None:
    first, second = probe_pods
    for client, server in ((first, second), (second, first)):
        target = f"TCP:{server.status.pod_ip}:{GREETING_PORT}"
        result = exec_in_pod(lab, client.metadata.name, ["socat", "-T", "5", "-", target])
        assert result.ok, result.stderr
        assert result.stdout.strip() == f"hello from {server.metadata.name}"


SERVICE_RANGE = ipaddress.ip_network(DEFAULT_SERVICE_SUBNET)


@pytest.mark.parametrize(
    "address",
    [f"{SERVICE_RANGE[1]}:80", f"{SERVICE_RANGE[-2]}:443"],
    ids=["a-port-the-kubernetes-service-lacks", "an-address-no-service-has"],
)
def test_what_no_service_answers_is_refused_in_the_lab(probe_pods, lab, address: str) -> None:
    # kube-proxy has no rule for either; the node refuses them rather than letting them out
    # of the lab, where a network that answers would make them connect.
    pod = probe_pods[0].metadata.name
    socat = ["socat", "-T", "5", "-", f"TCP:{address},connect-timeout=5"]
    from_a_pod = exec_in_pod(lab, pod, socat)
    assert not from_a_pod.ok and "Connection refused" in from_a_pod.stderr, from_a_pod
    host, port = address.split(":")
    tcp = ["timeout", "10", "bash", "-c", f"exec 3<>/dev/tcp/{host}/{port}"]
    from_a_node = lab.workers[0].exec(tcp, check=False)
    assert not from_a_node.ok and "Connection refused" in from_a_node.stderr, from_a_node


def test_status_and_logs_through_the_lab(lab, tmp_path) -> None:
    status = lab.status()
    assert status.ok and status.api.answers, str(status)
    nodes = {n.name for n in lab.nodes}
    assert {node.kubernetes for node in status.nodes if node.name in nodes} == {"Ready"}
    # Beside the nodes: the lab's registry, with where the host pushes to.
    [registry] = [node for node in status.nodes if node.name not in nodes]
    assert (registry.role, registry.container) == ("registry", "running")
    assert registry.kubernetes == f"localhost:{published_port(lab.registry.container)}"
    logs = lab.export_logs(tmp_path / "logs")
    assert (logs / "summary.txt").exists()
    exported = {p.name for p in logs.path.iterdir() if p.is_dir()}
    assert exported == {*nodes, lab.registry.name}
    assert (logs / lab.registry.name / "docker-logs.txt").read_text().count("listening on")
    assert logs.complete, (logs / "summary.txt").read_text()


def test_a_command_on_a_node_gets_its_input_and_keeps_its_streams_apart(lab) -> None:
    # What `labkit lab exec` runs: stdin read to its end, stdout and stderr kept apart.
    stdout, stderr = io.BytesIO(), io.BytesIO()
    code = lab.exec(
        "worker2",
        ["sh", "-c", "tr a-z A-Z; hostname >&2; exit 3"],
        stdin=io.BytesIO(b"from the host\n"),
        stdout=stdout,
        stderr=stderr,
    )
    assert (code, stdout.getvalue(), stderr.getvalue()) == (
        3,
        b"FROM THE HOST\n",
        f"{lab.name}-worker2\n".encode(),
    )
