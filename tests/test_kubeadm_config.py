"""The kubeadm configuration labkit renders, read back as YAML, and the init phase list."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from labkit.constants import KUBEADM_CONFIG
from labkit.errors import LabkitError
from labkit.kubeadm import BootstrapToken, init_config, init_phases, join_config, merge
from labkit.kubeadm.config import (
    CERTIFICATE_KEY_PATTERN,
    CRI_SOCKET,
    generate_certificate_key,
)
from labkit.spec import LabSpec
from labkit.versions import DEFAULT_KUBERNETES_VERSION, KubernetesVersion

TOKEN = BootstrapToken.parse("abcdef.0123456789abcdef")
CA_HASH = "sha256:" + "0f" * 32
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "lab.yaml"


@pytest.fixture(autouse=True)
def cgroup_v2_host(monkeypatch: pytest.MonkeyPatch) -> None:
    """The rendered config must not depend on the machine the tests run on."""
    monkeypatch.setattr("labkit.kubeadm.config.cgroup_mode", lambda: "v2")


def lab(**data: Any) -> LabSpec:
    return LabSpec.from_dict({"name": "demo", "workers": 2, **data})


def render_init(spec: LabSpec, **kwargs: Any) -> dict[str, dict[str, Any]]:
    text = init_config(spec, spec.control_plane, "172.18.0.2", TOKEN, **kwargs)
    return {doc["kind"]: doc for doc in yaml.safe_load_all(text)}


def render_join(spec: LabSpec, index: int = 1) -> dict[str, Any]:
    node = spec.node_names()[index]
    text = join_config(spec, node, "172.18.0.3", "demo-control-plane:6443", TOKEN, CA_HASH)
    (document,) = yaml.safe_load_all(text)
    return document


def test_init_config_documents_in_order() -> None:
    text = init_config(lab(), lab().control_plane, "172.18.0.2", TOKEN)
    kinds = [(doc["apiVersion"], doc["kind"]) for doc in yaml.safe_load_all(text)]
    assert kinds == [
        ("kubeadm.k8s.io/v1beta4", "InitConfiguration"),
        ("kubeadm.k8s.io/v1beta4", "ClusterConfiguration"),
        ("kubelet.config.k8s.io/v1beta1", "KubeletConfiguration"),
        ("kubeproxy.config.k8s.io/v1alpha1", "KubeProxyConfiguration"),
    ]
    assert init_config(lab(), lab().control_plane, "172.18.0.2", TOKEN) == text


def test_init_configuration() -> None:
    init = render_init(lab())["InitConfiguration"]
    assert init["bootstrapTokens"] == [{"token": "abcdef.0123456789abcdef", "ttl": "24h0m0s"}]
    assert init["localAPIEndpoint"] == {"advertiseAddress": "172.18.0.2", "bindPort": 6443}
    assert init["nodeRegistration"] == {
        "name": "demo-control-plane",
        "criSocket": "unix:///run/containerd/containerd.sock",
        "kubeletExtraArgs": [{"name": "node-ip", "value": "172.18.0.2"}],
    }


def test_cluster_configuration() -> None:
    spec = lab(networking={"podSubnet": "10.200.0.0/16", "dnsDomain": "lab.local"})
    cluster = render_init(spec, api_server_cert_sans=["172.18.0.2", "localhost"])[
        "ClusterConfiguration"
    ]
    assert cluster["kubernetesVersion"] == DEFAULT_KUBERNETES_VERSION
    assert cluster["clusterName"] == "kubernetes"
    assert cluster["controlPlaneEndpoint"] == "demo-control-plane:6443"
    assert cluster["networking"] == {
        "podSubnet": "10.200.0.0/16",
        "serviceSubnet": "10.96.0.0/16",
        "dnsDomain": "lab.local",
    }
    assert cluster["apiServer"] == {"certSANs": ["localhost", "127.0.0.1", "172.18.0.2"]}


def test_pod_subnet_is_kept_without_a_cni() -> None:
    cluster = render_init(lab(cni="none"))["ClusterConfiguration"]
    assert cluster["networking"]["podSubnet"] == "10.244.0.0/16"


def test_kubelet_and_kube_proxy_configuration() -> None:
    documents = render_init(lab())
    kubelet = documents["KubeletConfiguration"]
    assert kubelet["cgroupDriver"] == "systemd"
    assert kubelet["cgroupRoot"] == "/kubelet"
    assert kubelet["failSwapOn"] is False
    assert kubelet["imageGCHighThresholdPercent"] == 100
    assert kubelet["evictionHard"] == {
        "memory.available": "0%",
        "nodefs.available": "0%",
        "nodefs.inodesFree": "0%",
        "imagefs.available": "0%",
    }
    # Every supported minor refuses cgroup v1 by default; these hosts run it.
    assert kubelet["failCgroupV1"] is False
    proxy = documents["KubeProxyConfiguration"]
    assert proxy["mode"] == "iptables"
    assert proxy["conntrack"] == {"maxPerCore": 0}


def test_kubernetes_135_is_told_to_accept_cgroup_v1() -> None:
    documents = render_init(lab(kubernetesVersion="v1.35.0"))
    assert documents["KubeletConfiguration"]["failCgroupV1"] is False
    assert documents["ClusterConfiguration"]["kubernetesVersion"] == "v1.35.0"


def test_on_a_cgroup_v1_host_system_verification_is_skipped_by_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("labkit.kubeadm.config.cgroup_mode", lambda: "hybrid")
    spec = lab(ignorePreflightErrors=["NumCPU"])
    registration = render_init(spec)["InitConfiguration"]["nodeRegistration"]
    assert registration["ignorePreflightErrors"] == ["SystemVerification", "NumCPU"]
    assert render_join(spec)["nodeRegistration"]["ignorePreflightErrors"] == [
        "SystemVerification",
        "NumCPU",
    ]


def test_ignore_preflight_errors_join_spec_and_node() -> None:
    spec = lab(
        ignorePreflightErrors=["NumCPU", "Mem"],
        nodes={"demo-control-plane": {"ignorePreflightErrors": ["Mem", "Swap"]}},
    )
    registration = render_init(spec)["InitConfiguration"]["nodeRegistration"]
    assert registration["ignorePreflightErrors"] == ["NumCPU", "Mem", "Swap"]
    assert render_join(spec)["nodeRegistration"]["ignorePreflightErrors"] == ["NumCPU", "Mem"]


# --- patches ---------------------------------------------------------------------------


def test_api_server_extra_args_patch_appears() -> None:
    args = [{"name": "audit-log-maxage", "value": "7"}]
    spec = lab(kubeadm={"ClusterConfiguration": {"apiServer": {"extraArgs": args}}})
    api_server = render_init(spec)["ClusterConfiguration"]["apiServer"]
    assert api_server == {"certSANs": ["localhost", "127.0.0.1"], "extraArgs": args}


def test_kubelet_patch_overrides_and_merges() -> None:
    patch = {"failSwapOn": True, "maxPods": 50, "evictionHard": {"memory.available": "100Mi"}}
    kubelet = render_init(lab(kubeadm={"KubeletConfiguration": patch}))["KubeletConfiguration"]
    assert kubelet["failSwapOn"] is True
    assert kubelet["maxPods"] == 50
    assert kubelet["cgroupDriver"] == "systemd"
    assert kubelet["evictionHard"]["memory.available"] == "100Mi"
    assert kubelet["evictionHard"]["nodefs.available"] == "0%"


def test_a_list_patch_replaces_the_list() -> None:
    args = [{"name": "node-labels", "value": "tier=edge"}]
    patch = {"JoinConfiguration": {"nodeRegistration": {"kubeletExtraArgs": args}}}
    assert render_join(lab(kubeadm=patch))["nodeRegistration"]["kubeletExtraArgs"] == args


def test_node_patches_come_after_spec_patches() -> None:
    spec = lab(
        kubeadm={"InitConfiguration": {"nodeRegistration": {"taints": None}}},
        nodes={
            "demo-control-plane": {
                "kubeadm": {"InitConfiguration": {"nodeRegistration": {"taints": []}}}
            }
        },
    )
    assert render_init(spec)["InitConfiguration"]["nodeRegistration"]["taints"] == []


def test_node_override_applies_to_that_node_only() -> None:
    spec = LabSpec.from_file(EXAMPLE)
    taints = [{"key": "dedicated", "value": "edge", "effect": "NoSchedule"}]
    assert render_join(spec, 2)["nodeRegistration"]["taints"] == taints
    assert render_join(spec, 2)["nodeRegistration"]["ignorePreflightErrors"] == ["Swap"]
    assert "taints" not in render_join(spec, 1)["nodeRegistration"]
    assert "ignorePreflightErrors" not in render_join(spec, 1)["nodeRegistration"]
    registration = render_init(spec)["InitConfiguration"]["nodeRegistration"]
    assert registration["taints"] == []


def test_spec_join_patch_reaches_every_worker_but_not_init() -> None:
    spec = lab(kubeadm={"JoinConfiguration": {"nodeRegistration": {"imagePullPolicy": "Never"}}})
    assert [render_join(spec, i)["nodeRegistration"]["imagePullPolicy"] for i in (1, 2)] == [
        "Never",
        "Never",
    ]
    assert "imagePullPolicy" not in render_init(spec)["InitConfiguration"]["nodeRegistration"]


def test_merge_is_deep_for_mappings_and_leaves_its_inputs_alone() -> None:
    base = {"a": {"b": 1, "c": [1, 2]}, "d": "x"}
    patch = {"a": {"c": [3], "e": {"f": None}}, "d": {"now": "a mapping"}}
    assert merge(base, patch) == {
        "a": {"b": 1, "c": [3], "e": {"f": None}},
        "d": {"now": "a mapping"},
    }
    assert base == {"a": {"b": 1, "c": [1, 2]}, "d": "x"}


# --- join ------------------------------------------------------------------------------


def test_join_configuration() -> None:
    join = render_join(lab(), 2)
    assert (join["apiVersion"], join["kind"]) == ("kubeadm.k8s.io/v1beta4", "JoinConfiguration")
    assert join["discovery"] == {
        "bootstrapToken": {
            "apiServerEndpoint": "demo-control-plane:6443",
            "token": "abcdef.0123456789abcdef",
            "caCertHashes": [CA_HASH],
        }
    }
    assert join["nodeRegistration"] == {
        "name": "demo-worker2",
        "criSocket": CRI_SOCKET,
        "kubeletExtraArgs": [{"name": "node-ip", "value": "172.18.0.3"}],
    }


def test_token_may_be_given_as_text() -> None:
    spec = lab()
    text = join_config(
        spec,
        spec.node_names()[1],
        "172.18.0.3",
        "demo-control-plane:6443",
        "abcdef.0123456789abcdef",
        CA_HASH,
    )
    assert "token: abcdef.0123456789abcdef" in text
    with pytest.raises(LabkitError, match="not a kubeadm bootstrap token"):
        init_config(spec, spec.control_plane, "172.18.0.2", "ABCDEF.0123456789abcdef")


def test_callers_mistakes_are_refused() -> None:
    spec = lab()
    control_plane, worker = spec.node_names()[:2]
    with pytest.raises(ValueError, match="only a control plane runs kubeadm init"):
        init_config(spec, worker, "172.18.0.3", TOKEN)
    with pytest.raises(ValueError, match="joins with the certificate key"):
        join_config(spec, control_plane, "172.18.0.2", "x:6443", TOKEN, CA_HASH)
    with pytest.raises(ValueError, match="not a CA pin"):
        join_config(spec, worker, "172.18.0.3", "x:6443", TOKEN, "sha256:abc")
    with pytest.raises(ValueError, match="not an IP address"):
        init_config(spec, control_plane, "demo-control-plane", TOKEN)


# --- init phases -----------------------------------------------------------------------


def test_init_phases_follow_kubeadm_137() -> None:
    phases = init_phases(KubernetesVersion.parse("v1.37.2"))
    assert [phase.name for phase in phases] == [
        "preflight",
        "certs",
        "kubeconfig",
        "etcd",
        "control-plane",
        "kubelet-start",
        "wait-control-plane",
        "upload-config",
        "mark-control-plane",
        "bootstrap-token",
        "kubelet-finalize",
        "addon",
    ]
    by_name = {phase.name: list(phase) for phase in phases}
    assert by_name["certs"] == ["init", "phase", "certs", "all", "--config", KUBEADM_CONFIG]
    assert by_name["etcd"] == ["init", "phase", "etcd", "local", "--config", KUBEADM_CONFIG]
    # kubeadm 1.34's wait-control-plane phase takes no --config flag at all.
    assert by_name["wait-control-plane"] == ["init", "phase", "wait-control-plane"]
    assert all(
        args[-2:] == ["--config", KUBEADM_CONFIG]
        for name, args in by_name.items()
        if name != "wait-control-plane"
    )


def test_init_phases_run_as_argument_lists() -> None:
    phase = init_phases(KubernetesVersion.parse("v1.36.3"), config_path="/tmp/k.yaml")[0]
    assert ["kubeadm", *phase] == [
        "kubeadm",
        "init",
        "phase",
        "preflight",
        "--config",
        "/tmp/k.yaml",
    ]
    with pytest.raises(ValueError, match="no known kubeadm init phase order"):
        init_phases(KubernetesVersion(1, 40, 0))


# --- several control planes ---------------------------------------------------------------

KEY = "ab" * 32


def test_several_control_planes_share_the_load_balancers_endpoint() -> None:
    spec = lab(controlPlanes=3)
    documents = render_init(spec, certificate_key=KEY)
    assert documents["ClusterConfiguration"]["controlPlaneEndpoint"] == "demo-load-balancer:6443"
    assert documents["InitConfiguration"]["certificateKey"] == KEY
    assert "certificateKey" not in render_init(lab())["InitConfiguration"]
    assert render_init(lab())["ClusterConfiguration"]["controlPlaneEndpoint"] == (
        "demo-control-plane:6443"
    )


def test_a_control_plane_joins_with_its_own_endpoint_and_the_certificate_key() -> None:
    spec = lab(controlPlanes=3)
    second = spec.node_names()[1]
    text = join_config(
        spec, second, "172.18.0.3", "demo-load-balancer:6443", TOKEN, CA_HASH, certificate_key=KEY
    )
    (join,) = yaml.safe_load_all(text)
    assert join["controlPlane"] == {
        "localAPIEndpoint": {"advertiseAddress": "172.18.0.3", "bindPort": 6443},
        "certificateKey": KEY,
    }
    assert join["nodeRegistration"]["name"] == "demo-control-plane2"
    worker = render_join(spec, index=3)
    assert "controlPlane" not in worker


@pytest.mark.parametrize("key", ["AB" * 32, "ab" * 31, "zz" * 32])
def test_a_malformed_certificate_key_is_refused(key: str) -> None:
    spec = lab(controlPlanes=3)
    with pytest.raises(ValueError, match="is not 64 hex digits"):
        render_init(spec, certificate_key=key)


def test_generated_certificate_keys_are_kubeadms_shape_and_differ() -> None:
    keys = {generate_certificate_key() for _ in range(3)}
    assert len(keys) == 3 and all(CERTIFICATE_KEY_PATTERN.match(k) for k in keys)


def test_init_phases_upload_the_certs_only_for_several_control_planes() -> None:
    version = KubernetesVersion.parse("v1.37.2")
    assert "upload-certs" not in [p.name for p in init_phases(version)]
    phases = {p.name: list(p) for p in init_phases(version, upload_certs=True)}
    assert phases["upload-certs"] == [
        "init",
        "phase",
        "upload-certs",
        "--upload-certs",
        "--config",
        KUBEADM_CONFIG,
    ]
    names = list(phases)
    assert (
        names.index("upload-config")
        < names.index("upload-certs")
        < names.index("mark-control-plane")
    )
