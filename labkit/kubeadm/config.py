"""The configuration kubeadm reads on one node, rendered from the lab spec.

Pure functions: the same spec and node always give the same YAML. Field names follow
kubeadm's v1beta4 API (cmd/kubeadm/app/apis/kubeadm/v1beta4/types.go), the kubelet's
KubeletConfiguration (k8s.io/kubelet config/v1beta1) and kube-proxy's
KubeProxyConfiguration (k8s.io/kube-proxy config/v1alpha1). The spec's `kubeadm` patches,
then the node's, are deep-merged last, so a user can override anything labkit sets.
"""

from __future__ import annotations

import ipaddress
import math
import re
import secrets
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from labkit.constants import API_SERVER_PORT, CONTROL_PLANE, KUBEADM_CONFIG, KUBELET_PATCHES_DIR
from labkit.host.kernel import cgroup_mode
from labkit.kubeadm.discovery import CA_CERT_HASH_PATTERN
from labkit.kubeadm.token import BootstrapToken
from labkit.spec import LabSpec, NodeSpec, Resources, thaw
from labkit.versions import PRE_RELEASE_MINOR, SUPPORTED_MINORS, KubernetesVersion

KUBEADM_API_VERSION = "kubeadm.k8s.io/v1beta4"
KUBELET_API_VERSION = "kubelet.config.k8s.io/v1beta1"
KUBE_PROXY_API_VERSION = "kubeproxy.config.k8s.io/v1alpha1"
CRI_SOCKET = "unix:///run/containerd/containerd.sock"
CLUSTER_NAME = "kubernetes"
BOOTSTRAP_TOKEN_TTL = "24h0m0s"
# kubeadm's admin kubeconfig on a control plane (kubectl on the node uses it).
# Where the bring-up writes the rendered config on a node; `init_phases` passes it.
# The control plane's static pods, in the order they depend on each other (the apiserver
# needs etcd); kubeadm labels each `component=<name>,tier=control-plane`.
CONTROL_PLANE_COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
CONTROL_PLANE_SELECTOR = "tier=control-plane"
# kubeadm's addons: CoreDNS, a Deployment of coreDNSReplicas (2), and kube-proxy.
COREDNS_SELECTOR = "k8s-app=kube-dns"
COREDNS_REPLICAS = 2
KUBE_PROXY_SELECTOR = "k8s-app=kube-proxy"
CERTIFICATE_KEY_PATTERN = re.compile(r"^[0-9a-f]{64}$")
_API_VERSIONS = {
    "KubeletConfiguration": KUBELET_API_VERSION,
    "KubeProxyConfiguration": KUBE_PROXY_API_VERSION,
}

# The node container's disk is the host's: the kubelet must not garbage-collect preloaded
# images or evict pods (its own control plane) over usage it cannot change. kubelet
# ignores a threshold of exactly 0% (pkg/kubelet/eviction/helpers.go).
_EVICTION_HARD = {
    "memory.available": "0%",
    "nodefs.available": "0%",
    "nodefs.inodesFree": "0%",
    "imagefs.available": "0%",
}

# A node's own KubeletConfiguration patch, which kubeadm init and join apply to the
# kubelet's config.yaml on that node only (cmd/kubeadm/app/util/patches: a file named
# target[+patchtype].yaml; kubeletconfiguration is a target from v1.25).
KUBELET_PATCH_FILE = f"{KUBELET_PATCHES_DIR}/kubeletconfiguration+merge.yaml"


def init_config(
    spec: LabSpec,
    node: NodeSpec,
    advertise_address: str,
    token: BootstrapToken | str,
    *,
    api_server_cert_sans: Iterable[str] = (),
    certificate_key: str | None = None,
    host_cgroup_v1: bool | None = None,
) -> str:
    """InitConfiguration, ClusterConfiguration, KubeletConfiguration and
    KubeProxyConfiguration for `kubeadm init` on the control-plane `node`. With several
    control planes, `certificate_key` encrypts the shared keys that `--upload-certs` puts
    in the kubeadm-certs Secret, for the other control planes' joins."""
    if not node.is_control_plane:
        raise ValueError(f"{node.name} is a {node.role}: only a control plane runs kubeadm init")
    _check_address(advertise_address)
    documents = {
        "InitConfiguration": {
            "bootstrapTokens": [{"token": str(_token(token)), "ttl": BOOTSTRAP_TOKEN_TTL}],
            "localAPIEndpoint": {
                "advertiseAddress": advertise_address,
                "bindPort": API_SERVER_PORT,
            },
            "nodeRegistration": _node_registration(spec, node, advertise_address, host_cgroup_v1),
            **_certificate_key(certificate_key),
            **_node_patches(spec, node),
        },
        "ClusterConfiguration": _cluster_configuration(spec, api_server_cert_sans),
        "KubeletConfiguration": _kubelet_configuration(spec.kubernetes_version),
        "KubeProxyConfiguration": {
            "mode": "iptables",
            # A node container cannot set the host's nf_conntrack_max.
            "conntrack": {"maxPerCore": 0},
        },
    }
    return _render(spec, node, documents)


def join_config(
    spec: LabSpec,
    node: NodeSpec,
    advertise_address: str,
    api_endpoint: str,
    token: BootstrapToken | str,
    ca_cert_hash: str,
    *,
    certificate_key: str | None = None,
    host_cgroup_v1: bool | None = None,
) -> str:
    """JoinConfiguration for `kubeadm join` on `node`, discovering the cluster through the
    bootstrap token and pinning the CA by `ca_cert_hash` (sha256:<hex>). A control plane
    joins with its own API endpoint and the `certificate_key` that decrypts the shared
    keys `kubeadm init --upload-certs` stored."""
    _check_address(advertise_address)
    if not CA_CERT_HASH_PATTERN.match(ca_cert_hash):
        raise ValueError(f"{ca_cert_hash!r} is not a CA pin of the form sha256:<64 hex digits>")
    join: dict[str, Any] = {
        "discovery": {
            "bootstrapToken": {
                "apiServerEndpoint": api_endpoint,
                "token": str(_token(token)),
                "caCertHashes": [ca_cert_hash],
            }
        },
        "nodeRegistration": _node_registration(spec, node, advertise_address, host_cgroup_v1),
        **_node_patches(spec, node),
    }
    if node.is_control_plane:
        if not certificate_key:
            raise ValueError(f"{node.name}: a control plane joins with the certificate key")
        join["controlPlane"] = {
            "localAPIEndpoint": {
                "advertiseAddress": advertise_address,
                "bindPort": API_SERVER_PORT,
            },
            **_certificate_key(certificate_key),
        }
    return _render(spec, node, {"JoinConfiguration": join})


def _certificate_key(key: str | None) -> dict[str, str]:
    if key is None:
        return {}
    if not CERTIFICATE_KEY_PATTERN.match(key):
        raise ValueError(f"certificate key {key!r} is not 64 hex digits (AES-256, as kubeadm's)")
    return {"certificateKey": key}


def generate_certificate_key() -> str:
    """A key as `kubeadm certs certificate-key` makes one: 32 random bytes, in hex."""
    return secrets.token_hex(32)


def _node_patches(spec: LabSpec, node: NodeSpec) -> dict[str, Any]:
    """Where kubeadm finds the node's kubelet patch: only a node with limits has one."""
    return {"patches": {"directory": KUBELET_PATCHES_DIR}} if spec.resources_of(node) else {}


def kubelet_reservation_patch(limits: Resources, host_cpus: int, host_memory: int) -> str:
    """The kubelet's systemReserved for a node limited to `limits` on a host of `host_cpus`
    and `host_memory` bytes. A node container sees the host's /proc, so the kubelet's
    capacity is the host's; reserving the difference leaves allocatable (capacity minus
    reservations; evictionHard adds nothing at 0%) within the container's limits."""
    reserved = {}
    if limits.cpus:
        reserved["cpu"] = f"{max(0, math.ceil(host_cpus * 1000 - limits.cpus * 1000))}m"
    if limits.memory:
        reserved["memory"] = str(max(0, host_memory - limits.memory))
    return yaml.safe_dump({"systemReserved": reserved}, sort_keys=False)


def merge(base: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """`patch` deep-merged into a copy of `base`: mappings merge key by key; lists and
    scalars replace (so a v1beta4 `extraArgs` list in a patch is the whole new list)."""
    merged = thaw(base)
    for key, value in patch.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = thaw(value)
    return merged


def _render(spec: LabSpec, node: NodeSpec, documents: dict[str, dict[str, Any]]) -> str:
    override = spec.override_for(node)
    rendered = []
    for kind, body in documents.items():
        for patches in (spec.kubeadm, override.kubeadm):
            body = merge(body, patches.get(kind, {}))
        api_version = _API_VERSIONS.get(kind, KUBEADM_API_VERSION)
        rendered.append({"apiVersion": api_version, "kind": kind, **body})
    return yaml.safe_dump_all(rendered, sort_keys=False, default_flow_style=False)


def _node_registration(
    spec: LabSpec, node: NodeSpec, address: str, host_cgroup_v1: bool | None
) -> dict[str, Any]:
    registration: dict[str, Any] = {
        "name": node.name,
        "criSocket": CRI_SOCKET,
        # The kubelet would otherwise pick an address itself; pin the one Docker gave us.
        "kubeletExtraArgs": [{"name": "node-ip", "value": address}],
    }
    if host_cgroup_v1 is None:
        host_cgroup_v1 = cgroup_mode() != "v2"
    ignored = dict.fromkeys(
        [
            *preflight_errors_to_skip(spec.kubernetes_version, host_cgroup_v1=host_cgroup_v1),
            *spec.ignore_preflight_errors,
            *spec.override_for(node).ignore_preflight_errors,
        ]
    )
    if ignored:
        registration["ignorePreflightErrors"] = list(ignored)
    return registration


def _cluster_configuration(spec: LabSpec, extra_sans: Iterable[str]) -> dict[str, Any]:
    network = spec.networking
    return {
        "kubernetesVersion": str(spec.kubernetes_version),
        "clusterName": CLUSTER_NAME,
        "controlPlaneEndpoint": spec.control_plane_endpoint,
        "networking": {
            "podSubnet": network.pod_subnet,
            "serviceSubnet": network.service_subnet,
            "dnsDomain": network.dns_domain,
        },
        # localhost: the host reaches the API server through a port published on 127.0.0.1.
        "apiServer": {"certSANs": list(dict.fromkeys(["localhost", "127.0.0.1", *extra_sans]))},
    }


def _kubelet_configuration(version: KubernetesVersion) -> dict[str, Any]:
    config: dict[str, Any] = {
        "cgroupDriver": "systemd",
        # As kind: pods live under one cgroup, which the node entrypoint prepares on cgroup v1.
        "cgroupRoot": "/kubelet",
        "failSwapOn": False,
        "imageGCHighThresholdPercent": 100,
        "evictionHard": dict(_EVICTION_HARD),
    }
    if version.refuses_cgroup_v1:
        # From 1.35 the kubelet refuses to start on cgroup v1, which these hosts run.
        config["failCgroupV1"] = False
    return config


def preflight_errors_to_skip(
    version: KubernetesVersion, *, host_cgroup_v1: bool
) -> tuple[str, ...]:
    """Preflight errors kubeadm raises on these hosts for a reason labkit has handled.

    From 1.35, SystemVerification fails on a cgroup v1 host and kubeadm's message asks to
    set `failCgroupV1: false` (the KubeletConfiguration labkit renders does) and "also
    explicitly skip this validation"; skipped by name, only there."""
    return ("SystemVerification",) if host_cgroup_v1 and version.refuses_cgroup_v1 else ()


def _token(token: BootstrapToken | str) -> BootstrapToken:
    return token if isinstance(token, BootstrapToken) else BootstrapToken.parse(token)


def _check_address(address: str) -> None:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise ValueError(f"advertise address {address!r} is not an IP address") from None


@dataclass(frozen=True)
class InitPhase:
    """One `kubeadm init phase ...` run. Iterating gives the arguments after `kubeadm`, so
    `["kubeadm", *phase]` runs it; `name` is kubeadm's name of the phase, for callbacks."""

    name: str
    args: tuple[str, ...]

    def __iter__(self) -> Iterator[str]:
        return iter(self.args)


# kubeadm v1.37.2 cmd/kubeadm/app/cmd/init.go:157-170 (as v1.34's) appends the phases in this order
# (kubelet-start after etcd and control-plane, right before wait-control-plane). Each entry:
# the phase path, and whether it takes --config (wait-control-plane has no InheritFlags).
_INIT_PHASES: tuple[tuple[tuple[str, ...], bool], ...] = (
    (("preflight",), True),
    (("certs", "all"), True),
    (("kubeconfig", "all"), True),
    (("etcd", "local"), True),
    ((CONTROL_PLANE, "all"), True),
    (("kubelet-start",), True),
    # Reads kubeadm's defaults: the kubelet's healthz on 127.0.0.1:10248 and the advertise
    # address of the default route, which are what the rendered config says too.
    (("wait-control-plane",), False),
    (("upload-config", "all"), True),
    # With several control planes only, and then with --upload-certs (UPLOAD_CERTS_ARGS).
    (("upload-certs",), True),
    (("mark-control-plane",), True),
    (("bootstrap-token",), True),
    (("kubelet-finalize", "all"), True),
    (("addon", "all"), True),
    # show-join-command: left out; labkit renders the JoinConfiguration itself.
)


def init_phases(
    version: KubernetesVersion, *, config_path: str = KUBEADM_CONFIG, upload_certs: bool = False
) -> list[InitPhase]:
    """The `kubeadm init phase` runs that together do what `kubeadm init` does (as kinder's
    --use-phases does), so that a caller can check the node after each one. `upload_certs`
    (several control planes) stores the shared keys for the others' joins."""
    # kubeadm v1.38.0-beta.0 runs the phases of 1.37, in the same order.
    if version.minor not in (*SUPPORTED_MINORS, PRE_RELEASE_MINOR):
        raise ValueError(f"no known kubeadm init phase order for {version}")
    phases = []
    for path, takes_config in _INIT_PHASES:
        if path[0] == "upload-certs" and not upload_certs:
            continue
        config = ("--config", config_path) if takes_config else ()
        extra = ("--upload-certs",) if path[0] == "upload-certs" else ()
        phases.append(InitPhase(path[0], ("init", "phase", *path, *extra, *config)))
    return phases
