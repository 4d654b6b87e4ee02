"""The bring-up's join steps: the join material from the first control plane, then the
other control planes one by one and the workers at once, each with a kubeadm
JoinConfiguration that discovers the cluster by the lab's token and CA pin."""

from __future__ import annotations

from kubernetes import client as k8s

from labkit.constants import CA_CERT, KUBEADM_CONFIG, READY_TIMEOUT
from labkit.errors import StepFailed
from labkit.kubeadm import ca_cert_hash, join_config
from labkit.lab import waits
from labkit.lab.bringup_context import BringUp
from labkit.lab.evidence import cluster_evidence
from labkit.lab.node import Node
from labkit.parallel import parallel
from labkit.pipeline import required


def compute_join_material(up: BringUp) -> None:
    """The CA pin, computed from ca.crt; checked against the one kubeadm printed."""
    up.ca_cert_hash = ca_cert_hash(up.control_plane.read_file(CA_CERT))
    printed = [w for w in up.init_output.split() if w.startswith("sha256:")]
    if printed and printed[-1] != up.ca_cert_hash:
        raise StepFailed(
            operation="compare the CA hash",
            node=up.control_plane.name,
            reason=f"kubeadm printed CA hash {printed[-1]}, but ca.crt hashes to {up.ca_cert_hash}",
        )
    check = "matches kubeadm's" if printed else "kubeadm printed none (phases)"
    up.progress.say(f"   token {up.token.id}, CA {up.ca_cert_hash[:19]}... ({check})")


def wait_for_signed_cluster_info(up: BringUp) -> None:
    """Right after `kubeadm init` the controller-manager's bootstrap signer has not yet
    signed cluster-info for the lab's token, and kubeadm join's discovery retries only every
    5 s: its first try would always fail. Discovery still checks the signature and the CA
    pin itself; this only waits, on a watch, for the moment it can succeed."""
    key = f"jws-kubeconfig-{up.token.id}"
    core = k8s.CoreV1Api(required(up.api))
    if not waits.wait_until(
        core.list_namespaced_config_map,
        lambda maps: any(key in (m.data or {}) for m in maps),
        READY_TIMEOUT,
        namespace="kube-public",
        field_selector="metadata.name=cluster-info",
    ):
        raise StepFailed(
            operation="wait for the signed cluster-info",
            node=up.control_plane.name,
            reason=f"cluster-info got no JWS signature for token {up.token.id} "
            f"within {READY_TIMEOUT:.0f}s (the controller-manager's "
            "bootstrap signer signs it)",
            evidence=cluster_evidence(required(up.api)),
        )


def join_control_planes(up: BringUp) -> None:
    """The other control planes, one at a time: each adds an etcd member, and concurrent
    member additions are unsafe (kind joins them serially too)."""
    if not up.joining_control_planes:
        up.progress.say("   none: one control plane")
        return
    wait_for_signed_cluster_info(up)
    for node in up.joining_control_planes:
        join_node(up, node)
        up.progress.say(f"   {node.name} joined")


def join_workers(up: BringUp) -> None:
    if not up.workers:
        return
    wait_for_signed_cluster_info(up)
    parallel(up.workers, lambda node: join_node(up, node))


def join_node(up: BringUp, node: Node) -> None:
    node_spec = next(n for n in up.spec.node_names() if n.name == node.name)
    config = join_config(
        up.spec,
        node_spec,
        node.lab_address(),
        up.spec.control_plane_endpoint,
        up.token,
        up.ca_cert_hash,
        certificate_key=up.certificate_key if node_spec.is_control_plane else None,
    )
    node.write_file(KUBEADM_CONFIG, config.encode(), 0o600)
    up.run_kubeadm(node, ["join", "--config", KUBEADM_CONFIG, "--v=1"], operation="kubeadm join")
