"""A lab survives restarts: its nodes started again in reverse order, `docker restart` of
every node, `lab stop` then `lab start`. Each time every node keeps its address, the API
server its host port, and the lab is Ready again through the kubeconfig it had."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from labkit.constants import API_REQUEST_TIMEOUT
from labkit.facade import Lab
from labkit.lab.lifecycle import start_lab, stop_lab
from labkit.lab.node import RESTART_POLICY, Node
from labkit.lab.waits import is_ready
from labkit.suites.shared import kubeadm_suite_problems_with_one_control_plane

pytestmark = pytest.mark.lab(workers=1)

# From the first node started until the lab is Ready again (issue 13).
READY_AGAIN_WITHIN = 180.0


@dataclass(frozen=True)
class Reachable:
    """How the lab is reached: what every restart must keep."""

    addresses: dict[str, str]
    api_port: int
    kubeconfig: bytes


def reachable(lab: Lab) -> Reachable:
    return Reachable(
        # Every container of the lab, its registry too: each keeps its address.
        addresses={node.name: node.lab_address() for node in lab.containers},
        api_port=lab.control_plane.published_api_port(),
        kubeconfig=lab.kubeconfig.read_bytes(),
    )


@pytest.fixture(scope="module")
def as_made(lab: Lab) -> Reachable:
    return reachable(lab)


def assert_ready_again(lab: Lab, as_made: Reachable, since: float) -> None:
    """Started within the budget, reached as before, every node Ready through the
    kubeconfig labkit wrote when it made the lab (read anew from the file)."""
    elapsed = time.monotonic() - since
    assert elapsed < READY_AGAIN_WITHIN, f"Ready again only after {elapsed:.0f}s"
    assert reachable(lab) == as_made
    api = k8s_config.new_client_from_config(config_file=str(lab.kubeconfig))
    with api:
        assert api.configuration.host == f"https://127.0.0.1:{as_made.api_port}"
        nodes = k8s.CoreV1Api(api).list_node(_request_timeout=API_REQUEST_TIMEOUT).items
    assert sorted(n.metadata.name for n in nodes) == sorted(n.name for n in lab.nodes)
    assert all(is_ready(n) for n in nodes), [n.status.conditions for n in nodes]
    print(f"\nReady again {elapsed:.1f}s after the first start; addresses {as_made.addresses}")


def test_nodes_started_in_reverse_order_keep_their_addresses(lab: Lab, as_made: Reachable) -> None:
    for node in lab.nodes:
        node.container.stop()
    began = time.monotonic()
    # Worker first: with addresses handed out at start, it took the control plane's.
    for node in reversed(lab.nodes):
        node.container.start()
    start_lab(lab)
    assert_ready_again(lab, as_made, began)


def test_docker_restart_of_every_node_keeps_the_kubeconfig_valid(
    lab: Lab, as_made: Reachable
) -> None:
    began = time.monotonic()
    for node in lab.nodes:
        node.container.restart()
    start_lab(lab)
    assert_ready_again(lab, as_made, began)


def test_lab_stop_then_lab_start(lab: Lab, as_made: Reachable) -> None:
    stopped = stop_lab(lab)
    assert sorted(stopped.acted_on) == sorted(as_made.addresses)
    assert {node.container.status for node in lab.nodes} == {"exited"}
    # So that Docker does not start the lab again when the engine restarts.
    assert {restart_policy(node) for node in lab.nodes} == {"no"}
    began = time.monotonic()
    started = start_lab(lab)
    assert sorted(started.acted_on) == sorted(as_made.addresses)
    assert {restart_policy(node) for node in lab.nodes} == {RESTART_POLICY["Name"]}
    assert_ready_again(lab, as_made, began)


def restart_policy(node: Node) -> str:
    node.container.reload()
    return node.container.attrs["HostConfig"]["RestartPolicy"]["Name"]


def test_the_lab_survives_a_restart(lab):
    lab.stop()
    lab.start()
    nodes = lab.kubectl("get", "nodes", json=True)["items"]
    assert len(nodes) == 2
    assert not lab.check().failures


def test_kubeadms_e2e_suite_passes_after_the_restarts(lab_conformance) -> None:
    """Last in the module: after reverse-order starts, docker restart and lab stop/start,
    the lab is still what kubeadm's own suite expects."""
    problems = kubeadm_suite_problems_with_one_control_plane(lab_conformance("kubeadm"))
    assert not problems, "\n".join(problems)
