"""A lab's expectations come from its own kubeadm config over kubeadm's defaults: the same
text a v1.34.4 control plane holds and prints, turned into the contexts the rules use."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import yaml
from kubeadm_like import control_plane_context, control_plane_node, worker_context, worker_node
from kubeadm_like_pki import (
    CONTROL_PLANE,
    CONTROL_PLANE_ADDRESS,
    CRI_SOCKET,
    WORKER,
    WORKER_ADDRESS,
    Pki,
)
from kubeadm_output import IMAGES_LIST_OUTPUT, INIT_DEFAULTS

from labkit.checks import check_node
from labkit.checks.lab_context import (
    LabConfig,
    cluster_context,
    node_context,
)
from labkit.constants import KUBEADM_CONFIG
from labkit.errors import LabkitError
from labkit.goduration import go_duration

TOKEN = "l9ag8u.0123456789abcdef"
PIN = "sha256:" + "ab" * 32


def init_config(cluster: dict[str, Any] | None = None, **init: Any) -> str:
    """An /etc/labkit/kubeadm.yaml of a control plane, as labkit renders it."""
    documents = [
        {"apiVersion": "kubeadm.k8s.io/v1beta4", "kind": "InitConfiguration",
         "bootstrapTokens": [{"token": TOKEN, "ttl": "24h0m0s"}],
         "localAPIEndpoint": {"advertiseAddress": CONTROL_PLANE_ADDRESS, "bindPort": 6443},
         "nodeRegistration": {"name": CONTROL_PLANE, "criSocket": CRI_SOCKET}, **init},
        {"apiVersion": "kubeadm.k8s.io/v1beta4", "kind": "ClusterConfiguration",
         "kubernetesVersion": "v1.34.4", "networking": {"podSubnet": "10.244.0.0/16"},
         **(cluster or {})},
        {"apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration"},
    ]  # fmt: skip
    return yaml.safe_dump_all(documents)


def join_config(endpoint: str = f"{CONTROL_PLANE_ADDRESS}:6443") -> str:
    return yaml.safe_dump({
        "apiVersion": "kubeadm.k8s.io/v1beta4", "kind": "JoinConfiguration",
        "discovery": {"bootstrapToken": {"apiServerEndpoint": endpoint, "token": TOKEN,
                                         "caCertHashes": [PIN]}},
        "nodeRegistration": {"name": WORKER, "criSocket": CRI_SOCKET},
    })  # fmt: skip


def lab_config(cluster: dict[str, Any] | None = None, **init: Any) -> LabConfig:
    return LabConfig.from_kubeadm(init_config(cluster, **init), INIT_DEFAULTS, IMAGES_LIST_OUTPUT)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("8760h0m0s", timedelta(days=365)), ("24h0m0s", timedelta(hours=24)),
     ("1h30m", timedelta(minutes=90)), ("1.5s", timedelta(seconds=1.5)),
     ("500ms", timedelta(milliseconds=500))],
)  # fmt: skip
def test_go_duration(text: str, expected: timedelta) -> None:
    assert go_duration(text) == expected


@pytest.mark.parametrize("text", ["", "24", "24 hours", "1d"])
def test_go_duration_rejects_what_go_would(text: str) -> None:
    with pytest.raises(LabkitError, match="Go duration"):
        go_duration(text)


def test_the_lab_config_wins_and_kubeadm_defaults_fill_the_rest() -> None:
    fields = lab_config().context_fields()
    assert fields["kubernetes_minor"] == 34  # the lab's v1.34.4, not kubeadm's 1.34.0
    assert fields["service_subnet"] == "10.96.0.0/12"  # kubeadm's, the lab is silent
    assert fields["pod_subnet"] == "10.244.0.0/16"
    assert fields["encryption_algorithm"] == "RSA-2048"
    assert fields["certificate_validity"] == timedelta(hours=8760)
    assert fields["ca_certificate_validity"] == timedelta(hours=87600)
    assert fields["control_plane_endpoint"] is None
    assert fields["images"]["etcd"] == "registry.k8s.io/etcd:3.6.5-0"


def test_what_the_lab_sets_reaches_the_context() -> None:
    config = lab_config({
        "encryptionAlgorithm": "ECDSA-P256", "certificateValidityPeriod": "48h0m0s",
        "controlPlaneEndpoint": "lab-control-plane:6443",
        "networking": {"serviceSubnet": "10.96.0.0/16", "dnsDomain": "lab.local"},
        "apiServer": {"certSANs": ["localhost", "127.0.0.1"],
                      "extraArgs": [{"name": "profiling", "value": "false"},
                                    {"name": "audit-log-maxage", "value": "30"}]},
        "etcd": {"local": {"serverCertSANs": ["etcd.lab"]}},
    })  # fmt: skip
    fields = config.context_fields()
    assert fields["encryption_algorithm"] == "ECDSA-P256"
    assert fields["certificate_validity"] == timedelta(hours=48)
    assert fields["control_plane_endpoint"] == "lab-control-plane:6443"
    assert (fields["service_subnet"], fields["dns_domain"]) == ("10.96.0.0/16", "lab.local")
    assert fields["apiserver_cert_sans"] == ("localhost", "127.0.0.1")
    assert fields["apiserver_extra_args"] == (("profiling", "false"), ("audit-log-maxage", "30"))
    assert fields["etcd_server_cert_sans"] == ("etcd.lab",)


def test_a_token_without_ttl_gets_kubeadms() -> None:
    assert lab_config(bootstrapTokens=[{"token": TOKEN, "ttl": "2h0m0s"}]).token_ttl == (
        timedelta(hours=2)
    )
    assert lab_config(bootstrapTokens=[{"token": TOKEN}]).token_ttl == timedelta(hours=24)
    assert lab_config(bootstrapTokens=[]).token_ttl is None


def test_a_workers_config_is_not_the_labs() -> None:
    with pytest.raises(LabkitError, match="no ClusterConfiguration"):
        LabConfig.from_kubeadm(join_config(), INIT_DEFAULTS, IMAGES_LIST_OUTPUT)


def with_config(files: Any, text: str) -> Any:
    files.put(KUBEADM_CONFIG, text)
    return files.artifacts()


def test_node_contexts_are_the_ones_the_rules_are_tested_with(pki: Pki) -> None:
    config = lab_config()
    control_plane = with_config(control_plane_node(pki), init_config())
    context = node_context(config, control_plane, CONTROL_PLANE_ADDRESS)
    assert context == control_plane_context()
    assert [f.message for f in check_node(control_plane, context) if f.status == "fail"] == []
    worker = with_config(worker_node(pki), join_config())
    # Without a controlPlaneEndpoint the worker's kubelet.conf names what it joined.
    expected = worker_context(pod_subnet="10.244.0.0/16")  # no worker rule reads it
    assert node_context(config, worker, WORKER_ADDRESS) == expected


def test_rotation_is_the_callers_to_say(pki: Pki) -> None:
    # Before kubelet-finalize the first control plane's kubelet.conf embeds its certificate.
    artifacts = with_config(control_plane_node(pki), init_config())
    context = node_context(
        lab_config(), artifacts, CONTROL_PLANE_ADDRESS, kubelet_client_rotation=False
    )
    assert not context.kubelet_client_rotation


def test_cluster_context_takes_the_ca_and_the_pin_from_the_nodes(pki: Pki) -> None:
    nodes = [
        with_config(control_plane_node(pki), init_config()),
        with_config(worker_node(pki), join_config()),
    ]
    context = cluster_context(
        lab_config(), nodes, {CONTROL_PLANE: CONTROL_PLANE_ADDRESS, WORKER: WORKER_ADDRESS}
    )
    assert (context.control_planes, context.workers) == ((CONTROL_PLANE,), (WORKER,))
    assert context.ca_cert_pem == nodes[0].files["/etc/kubernetes/pki/ca.crt"].data
    assert context.discovery_token_ca_cert_hash == PIN
    assert context.api_server_url == f"https://{CONTROL_PLANE_ADDRESS}:6443"
    assert context.token_ttl == timedelta(hours=24)
    endpoint = lab_config({"controlPlaneEndpoint": "lab-control-plane"})
    assert cluster_context(endpoint, nodes, {}).api_server_url == "https://lab-control-plane:6443"


def test_cluster_context_needs_a_control_plane(pki: Pki) -> None:
    with pytest.raises(LabkitError, match="control plane"):
        cluster_context(lab_config(), [with_config(worker_node(pki), join_config())], {})
