"""A node's container options (issue 13, parts 3 and 4): a worker limited to 1 CPU and
2 GiB whose kubelet offers no more than that, a port of the worker published on the host's
loopback, and a host folder mounted read-only into the worker."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.utils import parse_quantity

from labkit.lab.network import free_host_port
from labkit.lab.workloads import probe_pod, run_probe_pods
from labkit.suites.shared import kubeadm_suite_problems_with_one_control_plane

GIB = 2**30
LIMITS = {"cpus": 1, "memory": "2Gi"}
CONTAINER_PORT = 18080
MOUNTED_AT = "/mnt/from-host"
GREETING = "hello from the host"
ANSWER = "answered by the worker"

pytestmark = pytest.mark.lab(workers=1, nodes={"worker": {"resources": LIMITS}})


@pytest.fixture(scope="module")
def host_port() -> int:
    return free_host_port()


@pytest.fixture(scope="module")
def host_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("mounted")
    (folder / "greeting.txt").write_text(GREETING)
    return folder


@pytest.fixture(scope="module")
def lab_spec(host_port: int, host_folder: Path) -> dict[str, Any]:
    """The marker's worker, with what exists only at run time: a free port and a folder."""
    worker = {
        "resources": LIMITS,
        "extraPortMappings": [{"containerPort": CONTAINER_PORT, "hostPort": host_port}],
        "extraMounts": [
            {"hostPath": str(host_folder), "containerPath": MOUNTED_AT, "readOnly": True}
        ],
    }
    return {"nodes": {"worker": worker}}


def worker_of(lab: Any) -> Any:
    (worker,) = [node for node in lab.nodes if not node.is_control_plane]
    return worker


def test_the_worker_container_is_limited_and_the_control_plane_is_not(lab) -> None:
    worker = worker_of(lab)
    worker.container.reload()
    limits = worker.container.attrs["HostConfig"]
    assert limits["Memory"] == 2 * GIB
    assert limits["NanoCpus"] == 1_000_000_000
    control_plane = lab.nodes[0].container.attrs["HostConfig"]
    assert control_plane["Memory"] == 0 and control_plane["NanoCpus"] == 0


def test_the_workers_allocatable_stays_within_its_limits(lab) -> None:
    core = k8s.CoreV1Api(lab.api_client())
    allocatable = core.read_node(worker_of(lab).name).status.allocatable
    print(f"allocatable of the limited worker: {allocatable}")
    assert 0 < parse_quantity(allocatable["memory"]) <= 2 * GIB
    assert 0 < parse_quantity(allocatable["cpu"]) <= 1
    unlimited = core.read_node(lab.nodes[0].name).status.allocatable
    assert parse_quantity(unlimited["memory"]) > 2 * GIB


def test_a_mapped_port_answers_from_the_host(lab, host_port: int) -> None:
    listen = f"TCP-LISTEN:{CONTAINER_PORT},fork,reuseaddr"
    pod = probe_pod("port-answer", worker_of(lab).name, ["socat", listen, f"SYSTEM:echo {ANSWER}"])
    pod.spec.host_network = True
    run_probe_pods(lab, [pod])
    assert ANSWER in _read_from(host_port, within=30)


def test_a_mounted_host_folder_is_visible_in_the_node_read_only(lab) -> None:
    worker = worker_of(lab)
    assert worker.output(["cat", f"{MOUNTED_AT}/greeting.txt"]).strip() == GREETING
    written = worker.exec(["touch", f"{MOUNTED_AT}/new"], check=False)
    assert not written.ok and "Read-only file system" in written.stderr


def _read_from(port: int, within: float) -> str:
    """What the host reads from 127.0.0.1:`port`, tried until socat answers there."""
    deadline = time.monotonic() + within
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
                answer = connection.recv(1024).decode()
            if answer:
                return answer
        except OSError:
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            return ""
        time.sleep(1)


def test_kubeadms_e2e_suite_passes_with_a_limited_worker(lab_conformance) -> None:
    """The worker's Docker limits and the kubelet reservation patched in by kubeadm change
    nothing kubeadm's own suite checks (its kubelet-config, RBAC and [multi-node] specs)."""
    problems = kubeadm_suite_problems_with_one_control_plane(lab_conformance("kubeadm"))
    assert not problems, "\n".join(problems)
