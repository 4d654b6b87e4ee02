"""What the rules should expect of a running lab, read from the lab itself.

The values that vary with the kubeadm under test come from that kubeadm (`kubeadm config
images list`, `kubeadm config print init-defaults`), the values that vary with the lab from
its own rendered config (/etc/labkit/kubeadm.yaml on each node), node addresses from Docker.
`labkit.checks.lab.check_lab(lab)` builds its contexts with these and runs every rule.

    config = read_lab_config(control_plane, read_node(control_plane))
    context = node_context(config, read_node(worker), worker_address)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import yaml

from labkit.checks import (
    CheckContext,
    ClusterContext,
    NodeArtifacts,
    parse_images_list,
    read_node_artifacts,
)
from labkit.checks.context import endpoint_url, url
from labkit.checks.etcd_members import MEMBER_LIST, EtcdMember, parse_member_list
from labkit.constants import (
    CA_CERT,
    ETCD_QUERY_TIMEOUT,
    KUBEADM_CONFIG,
    KUBEADM_QUERY_TIMEOUT,
    ROLE_CONTROL_PLANE,
    ROLE_WORKER,
    Role,
)
from labkit.errors import LabkitError
from labkit.goduration import go_duration
from labkit.kubeadm.config import merge
from labkit.lab.node import Node

IMAGES_LIST = ("kubeadm", "config", "images", "list", "--config", KUBEADM_CONFIG)
INIT_DEFAULTS = ("kubeadm", "config", "print", "init-defaults")


def kubeadm_documents(text: str, *, source: str) -> dict[str, dict[str, Any]]:
    """kind -> document of a multi-document kubeadm config."""
    try:
        documents = [d for d in yaml.safe_load_all(text) if d]
    except yaml.YAMLError as error:
        raise LabkitError(f"{source}: not YAML kubeadm can read: {error}") from None
    return {d["kind"]: d for d in documents if isinstance(d, dict) and "kind" in d}


def _arg_pairs(args: Any) -> tuple[tuple[str, str], ...]:
    # v1beta4 extraArgs: a list of {name, value}, in the order the config gives them.
    return tuple((str(a["name"]), str(a.get("value", ""))) for a in args or ())


def _minor(version: str) -> int:
    match = re.match(r"v?\d+\.(\d+)", version)
    if not match:
        raise LabkitError(f"kubernetesVersion {version!r} is not a release such as v1.34.4")
    return int(match[1])


@dataclass(frozen=True)
class LabConfig:
    """The lab's ClusterConfiguration and InitConfiguration over kubeadm's own defaults, and
    the images that kubeadm deploys for them."""

    cluster: Mapping[str, Any]
    init: Mapping[str, Any]
    images: Mapping[str, str]

    @classmethod
    def from_kubeadm(cls, lab_config: str, init_defaults: str, images_list: str) -> LabConfig:
        """From the control plane's /etc/labkit/kubeadm.yaml, `kubeadm config print
        init-defaults` and `kubeadm config images list --config ...` (their stdout)."""
        lab = kubeadm_documents(lab_config, source=KUBEADM_CONFIG)
        defaults = kubeadm_documents(init_defaults, source="kubeadm config print init-defaults")
        if "ClusterConfiguration" not in lab:
            raise LabkitError(
                f"{KUBEADM_CONFIG} has no ClusterConfiguration: is this the control plane's config?"
            )
        cluster = merge(defaults.get("ClusterConfiguration", {}), lab["ClusterConfiguration"])
        default_init = defaults.get("InitConfiguration", {})
        init = merge(default_init, lab.get("InitConfiguration", {}))
        # A list replaces the default list whole; kubeadm still defaults each token's fields.
        default_token = (default_init.get("bootstrapTokens") or [{}])[0]
        init["bootstrapTokens"] = [
            merge(default_token, token) for token in init.get("bootstrapTokens") or ()
        ]
        return cls(cluster, init, parse_images_list(images_list))

    def _get(self, document: Mapping[str, Any], dotted: str, default: Any = None) -> Any:
        value: Any = document
        for key in dotted.split("."):
            value = value.get(key) if isinstance(value, Mapping) else None
        return default if value is None else value

    def cluster_field(self, dotted: str, default: Any = None) -> Any:
        return self._get(self.cluster, dotted, default)

    @property
    def kubernetes_minor(self) -> int:
        return _minor(self.cluster_field("kubernetesVersion"))

    @property
    def bind_port(self) -> int:
        return int(self._get(self.init, "localAPIEndpoint.bindPort"))

    @property
    def token_ttl(self) -> timedelta | None:
        """The TTL of the token the lab's joins use (the first, as kubeadm prints it)."""
        tokens = self._get(self.init, "bootstrapTokens", [])
        return go_duration(tokens[0]["ttl"]) if tokens else None

    def context_fields(self) -> dict[str, Any]:
        """The CheckContext fields every node of the lab shares."""
        cluster = self.cluster_field
        return {
            "kubernetes_minor": self.kubernetes_minor,
            "images": dict(self.images),
            "control_plane_endpoint": cluster("controlPlaneEndpoint") or None,
            "service_subnet": cluster("networking.serviceSubnet"),
            "pod_subnet": cluster("networking.podSubnet"),
            "dns_domain": cluster("networking.dnsDomain"),
            "cluster_name": cluster("clusterName"),
            "encryption_algorithm": cluster("encryptionAlgorithm"),
            "bind_port": self.bind_port,
            "apiserver_cert_sans": tuple(cluster("apiServer.certSANs", ())),
            "etcd_server_cert_sans": tuple(cluster("etcd.local.serverCertSANs", ())),
            "etcd_peer_cert_sans": tuple(cluster("etcd.local.peerCertSANs", ())),
            "apiserver_extra_args": _arg_pairs(cluster("apiServer.extraArgs")),
            "certificate_validity": go_duration(cluster("certificateValidityPeriod")),
            "ca_certificate_validity": go_duration(cluster("caCertificateValidityPeriod")),
        }


def node_config(artifacts: NodeArtifacts) -> dict[str, dict[str, Any]]:
    """The node's own kubeadm config (InitConfiguration or JoinConfiguration) by kind."""
    entry = artifacts.get(KUBEADM_CONFIG)
    return kubeadm_documents(entry.text, source=KUBEADM_CONFIG) if entry else {}


def node_context(
    config: LabConfig,
    artifacts: NodeArtifacts,
    address: str,
    *,
    kubelet_client_rotation: bool = True,
) -> CheckContext:
    """What kubeadm should have left on the node the artifacts were read from; before
    kubelet-finalize, pass `kubelet_client_rotation=False`."""
    fields = config.context_fields()
    own = node_config(artifacts)
    document = own.get("InitConfiguration") or own.get("JoinConfiguration") or {}
    registration = document.get("nodeRegistration") or {}
    if not fields["control_plane_endpoint"] and artifacts.role == "worker":
        # Without a controlPlaneEndpoint a worker's kubelet.conf names what it joined.
        joined = (document.get("discovery") or {}).get("bootstrapToken") or {}
        fields["control_plane_endpoint"] = joined.get("apiServerEndpoint")
    return CheckContext(
        node=artifacts.node,
        role=artifacts.role,
        advertise_address=address,
        cri_socket=registration.get("criSocket"),
        # A control plane that joined (several control planes) has a JoinConfiguration.
        first_control_plane=not (
            artifacts.role == ROLE_CONTROL_PLANE and "JoinConfiguration" in own
        ),
        etcd_upgraded=artifacts.etcd_upgraded,
        kubelet_client_rotation=kubelet_client_rotation,
        **fields,
    )


def _join_pins(artifacts: NodeArtifacts) -> list[str]:
    join = node_config(artifacts).get("JoinConfiguration") or {}
    token = (join.get("discovery") or {}).get("bootstrapToken") or {}
    return list(token.get("caCertHashes") or ())


def cluster_context(
    config: LabConfig, nodes: Iterable[NodeArtifacts], addresses: Mapping[str, str]
) -> ClusterContext:
    """The cluster's expectations: the CA as the control plane's artifacts hold it, the CA
    pin the workers' JoinConfigurations gave kubeadm, the nodes' addresses from Docker."""
    nodes = list(nodes)
    control_planes = tuple(n.node for n in nodes if n.role == ROLE_CONTROL_PLANE)
    if not control_planes:
        raise LabkitError("a lab's cluster check needs the artifacts of its control plane")
    first = next(n for n in nodes if n.role == ROLE_CONTROL_PLANE)
    ca = first.get(CA_CERT)
    endpoint = config.cluster_field("controlPlaneEndpoint")
    # cluster-info names the controlPlaneEndpoint, else the first control plane's address.
    server = (
        endpoint_url(endpoint, config.bind_port)
        if endpoint
        else url("https", addresses[first.node], config.bind_port)
    )
    pins = [pin for n in nodes for pin in _join_pins(n)]
    # Without a token in the config there is no TTL to hold a token Secret to.
    ttl = {} if config.token_ttl is None else {"token_ttl": config.token_ttl}
    return ClusterContext(
        control_planes=control_planes,
        workers=tuple(n.node for n in nodes if n.role == ROLE_WORKER),
        images=dict(config.images),
        service_subnet=config.cluster_field("networking.serviceSubnet"),
        api_server_url=server,
        ca_cert_pem=ca.data if ca else None,
        discovery_token_ca_cert_hash=pins[0] if pins else None,
        kubernetes_minor=config.kubernetes_minor,
        **ttl,
    )


def read_node(node: Node) -> NodeArtifacts:
    """The node's kubeadm files and its own kubeadm config, in one `tar`."""
    return read_node_artifacts(
        node.container, node.name, _role(node), extra_paths=(KUBEADM_CONFIG,)
    )


def _role(node: Node) -> Role:
    return ROLE_CONTROL_PLANE if node.is_control_plane else ROLE_WORKER


def read_etcd_members(node: Node) -> tuple[EtcdMember, ...] | str:
    """etcd's member list as the node's etcd gives it, or why it could not be read."""
    try:
        result = node.exec(list(MEMBER_LIST), check=False, timeout=ETCD_QUERY_TIMEOUT)
    except Exception as error:  # a finding of its own, not a reason to lose the others
        return f"no answer from {node.name}: {type(error).__name__}: {error}"
    if not result.ok:
        return f"curl on {node.name} exited {result.exit_code}: {result.stderr.strip()[-200:]}"
    try:
        return parse_member_list(result.stdout)
    except ValueError as error:
        return str(error)


def kubeadm_stdout(node: Node, command: tuple[str, ...]) -> str:
    # stdout only: kubeadm logs its warnings to stderr.
    return node.output(command, timeout=KUBEADM_QUERY_TIMEOUT)


def lab_config(
    control_plane: str, artifacts: NodeArtifacts, init_defaults: str, images_list: str
) -> LabConfig:
    entry = artifacts.get(KUBEADM_CONFIG)
    if entry is None:
        raise LabkitError(
            f"{control_plane} has no {KUBEADM_CONFIG}: "
            "only labs brought up by labkit can be checked"
        )
    return LabConfig.from_kubeadm(entry.text, init_defaults, images_list)


def read_lab_config(control_plane: Node, artifacts: NodeArtifacts) -> LabConfig:
    """The LabConfig, given the control plane's artifacts (runs kubeadm twice there)."""
    return lab_config(
        control_plane.name,
        artifacts,
        kubeadm_stdout(control_plane, INIT_DEFAULTS),
        kubeadm_stdout(control_plane, IMAGES_LIST),
    )
