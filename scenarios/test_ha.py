"""Several control planes behind a load balancer, and what happens when they are lost, on
one 3 + 1 lab. In order: the lab as made (Ready, three etcd members, `check` passes); the
first control plane lost (the API still answers and accepts writes through the host
kubeconfig, a Deployment keeps serving, the node goes NotReady, `diagnose` names it);
two of three lost (etcd's quorum: writes fail, `diagnose` says so and names the members
to start, no object lost once they are back); the load balancer lost (`diagnose` names
it, not the API servers). Each loss is a `docker kill` and each recovery `lab start`, and
each scenario leaves the lab Ready for the next.
"""

from __future__ import annotations

import json
import time

import pytest
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from labkit.checks.lab import check_lab
from labkit.constants import API_REQUEST_TIMEOUT, PKI_DIR
from labkit.facade import Lab
from labkit.kubeadm.config import CONTROL_PLANE_COMPONENTS
from labkit.lab import waits
from labkit.lab.api import API_FAILURES
from labkit.lab.node import Node
from labkit.suites.suites import COPY_CERTS, MULTI_NODE
from labkit.troubleshooting import node_monitor_grace_period, wait_for_ready_condition
from labkit.versions import TOOLBOX_IMAGE

pytestmark = pytest.mark.lab(control_planes=3, workers=1)

# Issue 12: with one control plane lost, a write through the host kubeconfig succeeds within.
WRITE_WITHIN = 60.0
RECOVERY_TIMEOUT = 180.0
NAMESPACE = "ha-scenario"
SERVING = "serving"
SERVING_PORT = 8080
OBJECTS = 20


def core_api(lab: Lab) -> k8s.CoreV1Api:
    return k8s.CoreV1Api(lab.api_client())


def write(lab: Lab, name: str) -> None:
    body = k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name=name), data={"written": name})
    core_api(lab).create_namespaced_config_map(
        NAMESPACE, body, _request_timeout=API_REQUEST_TIMEOUT
    )


def config_maps(lab: Lab) -> set[str]:
    listed = core_api(lab).list_namespaced_config_map(
        NAMESPACE, _request_timeout=API_REQUEST_TIMEOUT
    )
    return {c.metadata.name for c in listed.items if c.metadata.name != "kube-root-ca.crt"}


def etcd_members(node: Node) -> list[dict]:
    """etcd's own member list, from its v3 JSON gateway on the node, as the API server's
    client (kubeadm's healthcheck-client certificate)."""
    etcd = f"{PKI_DIR}/etcd"
    result = node.exec(
        [
            "curl",
            "-sS",
            "--max-time",
            "10",
            "--cacert",
            f"{etcd}/ca.crt",
            "--cert",
            f"{etcd}/healthcheck-client.crt",
            "--key",
            f"{etcd}/healthcheck-client.key",
            "-X",
            "POST",
            "-d",
            "{}",
            "https://127.0.0.1:2379/v3/cluster/member/list",
        ]
    )
    return json.loads(result.stdout)["members"]


def serves(lab: Lab, address: str) -> bool:
    """The Deployment's Service answers from the worker (kube-proxy there routes it)."""
    result = lab.workers[0].exec(
        ["socat", "-T3", "-", f"TCP:{address}:{SERVING_PORT}"], check=False, timeout=10
    )
    return result.ok and result.stdout.strip() == "ok"


@pytest.fixture(scope="module")
def service_address(lab: Lab) -> str:
    """A two-replica Deployment on the worker behind a Service, in the scenarios' namespace."""
    api = lab.api_client()
    core, apps = k8s.CoreV1Api(api), k8s.AppsV1Api(api)
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=NAMESPACE)))
    labels = {"app": SERVING}
    server = k8s.V1Container(
        name=SERVING,
        image=TOOLBOX_IMAGE,
        image_pull_policy="IfNotPresent",
        command=["socat", f"TCP-LISTEN:{SERVING_PORT},fork,reuseaddr", "SYSTEM:echo ok"],
        readiness_probe=k8s.V1Probe(
            tcp_socket=k8s.V1TCPSocketAction(port=SERVING_PORT), period_seconds=2
        ),
    )
    deployment = k8s.V1Deployment(
        metadata=k8s.V1ObjectMeta(name=SERVING),
        spec=k8s.V1DeploymentSpec(
            replicas=2,
            selector=k8s.V1LabelSelector(match_labels=labels),
            template=k8s.V1PodTemplateSpec(
                metadata=k8s.V1ObjectMeta(labels=labels),
                spec=k8s.V1PodSpec(containers=[server], termination_grace_period_seconds=0),
            ),
        ),
    )
    apps.create_namespaced_deployment(NAMESPACE, deployment)
    service = core.create_namespaced_service(
        NAMESPACE,
        k8s.V1Service(
            metadata=k8s.V1ObjectMeta(name=SERVING),
            spec=k8s.V1ServiceSpec(selector=labels, ports=[k8s.V1ServicePort(port=SERVING_PORT)]),
        ),
    )
    assert waits.pods_ready(api, NAMESPACE, f"app={SERVING}", 2, RECOVERY_TIMEOUT)
    address = service.spec.cluster_ip
    assert waits_for(lambda: serves(lab, address), 30), f"{SERVING} does not answer at {address}"
    return address


def waits_for(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(1)
    return True


def assert_recovered(lab: Lab) -> None:
    """`lab start` brings back what was lost; every node Ready, every etcd member started."""
    started = time.monotonic()
    result = lab.start()
    print(f"\nlab start: {', '.join(result.acted_on)} Ready in {time.monotonic() - started:.1f}s")
    api = lab.api_client()
    checks = waits.readiness_checks(api, [n.name for n in lab.nodes], control_planes=3)
    assert waits.first_unmet(checks, RECOVERY_TIMEOUT) is None
    members = etcd_members(lab.control_planes[1])
    assert sorted(m["name"] for m in members) == sorted(n.name for n in lab.control_planes)


def test_three_control_planes_behind_the_load_balancer_are_ready(lab: Lab, lab_api) -> None:
    balancer = lab.load_balancer
    assert balancer is not None and balancer.container.status == "running"
    assert lab.api_front.published_api_port() == balancer.fixed_api_port()
    nodes = k8s.CoreV1Api(lab_api).list_node().items
    assert len(nodes) == 4 and all(waits.is_ready(n) for n in nodes)
    etcd = k8s.CoreV1Api(lab_api).list_namespaced_pod(
        "kube-system", label_selector="component=etcd"
    )
    assert sorted(p.spec.node_name for p in etcd.items) == sorted(
        n.name for n in lab.control_planes
    )
    members = etcd_members(lab.control_plane)
    for member in members:
        node = lab.node(member["name"])
        assert member["peerURLs"] == [f"https://{node.lab_address()}:2380"]
    run = check_lab(lab)
    assert run.failures == [], "\n".join(f.message for f in run.failures)
    assert run.rules > 0 and len(run.nodes) == 4


def test_kubeadms_e2e_suite_passes_its_copy_certs_and_multi_node_specs(lab_conformance) -> None:
    """kinder runs e2e_kubeadm after every HA workflow; with several control planes its
    [copy-certs] specs (the kubeadm-certs Secret and its token) apply too."""
    result = lab_conformance("kubeadm")
    assert result.ok, result.failures_text()
    for tag in (COPY_CERTS, MULTI_NODE):
        plain = tag.replace("\\", "")
        assert any(plain in spec.name for spec in result.passed), f"no {plain} spec passed"
    assert not result.not_selected, [spec.name for spec in result.not_selected]


def test_one_control_plane_lost_the_api_still_answers_and_writes(
    lab: Lab, lab_api, service_address: str
) -> None:
    lost = lab.control_plane
    grace = node_monitor_grace_period(lab)
    lost.container.kill()
    killed = time.monotonic()
    while True:
        try:
            write(lab, "written-without-the-first-control-plane")
            break
        except (*API_FAILURES, ApiException):
            assert time.monotonic() - killed < WRITE_WITHIN, "no write within 60s"
            time.sleep(1)
    print(f"\nwrite accepted {time.monotonic() - killed:.1f}s after {lost.name} was killed")
    assert serves(lab, service_address)
    not_ready = wait_for_ready_condition(
        lab.api_client(), lost.name, lambda c: c.status != "True", grace + 60
    )
    assert not_ready is not None, f"{lost.name} still Ready {grace + 60:.0f}s after its loss"
    assert serves(lab, service_address)

    found = {d.subject: d for d in lab.diagnose().diagnoses}
    assert found[f"node/{lost.name}"].cause_id == "node.container-stopped"
    assert not [d for d in found.values() if d.cause_id.startswith(("api.", "etcd."))]

    assert_recovered(lab)
    assert etcd_members(lost)  # its own member answers again


def test_two_of_three_lost_is_etcd_quorum_lost_and_nothing_is_lost(lab: Lab) -> None:
    for index in range(OBJECTS):
        write(lab, f"before-quorum-loss-{index}")
    before = config_maps(lab)
    lost = lab.control_planes[1:]
    for node in lost:
        node.container.kill()
    with pytest.raises((*API_FAILURES, ApiException)):
        write(lab, "written-without-quorum")

    found = {d.cause_id: d for d in lab.diagnose().diagnoses}
    quorum = found["etcd.quorum-lost"]
    assert "1 of its 3 members run and it needs 2" in quorum.summary
    assert all(node.name in quorum.fix for node in lost)
    assert f"labkit lab start {lab.name}" in quorum.fix

    assert_recovered(lab)
    assert config_maps(lab) == before
    write(lab, "written-after-quorum-is-back")


def test_the_load_balancer_lost_is_named_rather_than_the_api_servers(lab: Lab) -> None:
    balancer = lab.load_balancer
    assert balancer is not None
    balancer.container.kill()
    found = lab.diagnose().diagnoses
    assert [d.cause_id for d in found] == ["api.load-balancer-stopped"], found
    assert f"labkit lab start {lab.name}" in found[0].fix
    for node in lab.control_planes:
        runtime = node.output(["crictl", "ps", "--state", "running", "-o", "json"])
        running = {c["metadata"]["name"] for c in json.loads(runtime)["containers"]}
        assert set(CONTROL_PLANE_COMPONENTS) <= running, node.name

    assert_recovered(lab)
    write(lab, "written-after-the-load-balancer-is-back")


def test_the_api_outlives_a_control_plane(lab):
    lab.node("control-plane2").container.kill()
    lab.kubectl("create", "configmap", "written-with-one-control-plane-down")
    lost = lab.diagnose().diagnoses
    assert [(d.cause_id, d.subject) for d in lost] == [
        ("node.container-stopped", f"node/{lab.name}-control-plane2")
    ]
    lab.start()
    assert not lab.check().failures
