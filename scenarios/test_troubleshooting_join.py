"""Troubleshooting `kubeadm join`, on one 1 + 1 lab without a CNI (joining needs none).

Before each scenario the worker is taken out of the cluster as an operator would (`kubeadm
reset`, its Node deleted), which leaves a node that has not joined. A join with a deleted
bootstrap token fails at discovery and a fresh `kubeadm token create --print-join-command`
joins; a wrong CA pin is refused and the pin labkit computes from ca.crt joins. Each
asserts kubeadm's error, what `diagnose` names, and the node registering after the fix.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client as k8s

from labkit.constants import API_SERVER_PORT, CA_CERT
from labkit.diagnose import Diagnosis
from labkit.kubeadm import BootstrapToken, ca_cert_hash, parse_join_command
from labkit.lab import waits
from labkit.lab.node import ExecResult, Node
from labkit.troubleshooting import join_token_in_use, kubeadm_join, unjoin

pytestmark = pytest.mark.lab(workers=1, cni="none")

FRONT_PROXY_CA = "/etc/kubernetes/pki/front-proxy-ca.crt"
JOINED = "This node has joined the cluster"
REGISTER_TIMEOUT = 60.0


@pytest.fixture
def unjoined(lab) -> Iterator[Node]:
    worker = lab.workers[0]
    unjoin(lab, worker)
    yield worker


def output(result: ExecResult) -> str:
    return result.stdout + result.stderr


def registered(lab_api: k8s.ApiClient) -> set[str]:
    return {n.metadata.name for n in k8s.CoreV1Api(lab_api).list_node().items}


def diagnosis_of(lab, node: Node) -> Diagnosis:
    found = [d for d in lab.diagnose().diagnoses if d.subject == f"node/{node.name}"]
    assert len(found) == 1, found
    return found[0]


def diagnosis_of_refused_join(
    lab, lab_api: k8s.ApiClient, node: Node, refused: ExecResult, error: str
) -> Diagnosis:
    """After a join kubeadm refused with `error`: the node has no Node object and diagnose
    says it has not registered. Its diagnosis, for what the scenario expects of it."""
    assert not refused.ok
    assert error in output(refused), output(refused)
    assert node.name not in registered(lab_api)
    found = diagnosis_of(lab, node)
    assert found.cause_id == "node.not-registered"
    return found


def assert_joined(lab_api: k8s.ApiClient, node: Node, joined: ExecResult) -> None:
    assert joined.ok and JOINED in joined.stdout, output(joined)
    assert waits.nodes_registered(lab_api, [node.name], REGISTER_TIMEOUT)


def test_a_deleted_token_fails_discovery_and_a_new_join_command_joins(
    lab, lab_api, unjoined
) -> None:
    cp = lab.control_plane
    token = join_token_in_use(unjoined)  # the one `lab up` joined this worker with
    pin = ca_cert_hash(cp.read_file(CA_CERT))
    cp.exec(["kubeadm", "token", "delete", token.id])
    assert token.id not in cp.exec(["kubeadm", "token", "list"]).stdout

    failed = kubeadm_join(
        lab, unjoined, endpoint=f"{cp.name}:{API_SERVER_PORT}", token=token, ca_cert_hash=pin
    )
    expected = (
        "error execution phase preflight: couldn't validate the identity of the API "
        "Server: could not find a JWS signature in the cluster-info ConfigMap for token "
        f'ID "{token.id}"'
    )
    found = diagnosis_of_refused_join(lab, lab_api, unjoined, failed, expected)
    assert "its kubelet is stopped (systemd), so `kubeadm join` has not completed" in found.summary
    assert "no usable bootstrap token (expired or deleted)" in found.summary
    assert (
        f"labkit lab exec {lab.name} {cp.name} -- kubeadm token create "
        "--print-join-command" in found.fix
    )

    command = parse_join_command(
        cp.exec(["kubeadm", "token", "create", "--print-join-command"]).stdout
    )
    assert command.endpoint == f"{cp.name}:{API_SERVER_PORT}" and not command.control_plane
    assert command.ca_cert_hashes == (pin,)
    assert command.token.id in cp.exec(["kubeadm", "token", "list"]).stdout

    joined = kubeadm_join(
        lab,
        unjoined,
        endpoint=command.endpoint,
        token=command.token,
        ca_cert_hash=command.ca_cert_hashes[0],
    )
    assert_joined(lab_api, unjoined, joined)
    assert all(d.cause_id != "node.not-registered" for d in lab.diagnose().diagnoses)


def test_a_wrong_ca_pin_is_refused_and_the_pin_of_ca_crt_joins(lab, lab_api, unjoined) -> None:
    cp = lab.control_plane
    token = BootstrapToken.parse(cp.exec(["kubeadm", "token", "create"]).stdout)
    endpoint = f"{cp.name}:{API_SERVER_PORT}"
    pin = ca_cert_hash(cp.read_file(CA_CERT))
    # A CA of this very cluster, but not the one that signs the API server's certificate.
    wrong = ca_cert_hash(cp.read_file(FRONT_PROXY_CA))
    assert wrong != pin

    refused = kubeadm_join(lab, unjoined, endpoint=endpoint, token=token, ca_cert_hash=wrong)
    expected = (
        "couldn't validate the identity of the API Server: cluster CA found in "
        f'cluster-info ConfigMap is invalid: none of the public keys "{pin}" are pinned'
    )
    found = diagnosis_of_refused_join(lab, lab_api, unjoined, refused, expected)
    assert "`kubeadm join` has not completed" in found.summary
    assert "a wrong --discovery-token-ca-cert-hash" in found.fix
    tokens = next(e for e in found.evidence if e.startswith("bootstrap tokens usable"))
    assert token.id in tokens.split(": ", 1)[1].split(", ")

    joined = kubeadm_join(lab, unjoined, endpoint=endpoint, token=token, ca_cert_hash=pin)
    assert_joined(lab_api, unjoined, joined)
    # The node now trusts exactly the CA it pinned.
    assert ca_cert_hash(unjoined.read_file(CA_CERT)) == pin
