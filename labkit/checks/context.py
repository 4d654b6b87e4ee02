"""What the rules expect of one node or of the cluster.

Everything that varies with the kubeadm under test (image tags, the minor version) or with
the lab's kubeadm configuration (subnets, endpoint, encryption algorithm, extra args) is a
field here, filled by the caller from that kubeadm and that configuration. The rules hold
only what kubeadm itself hard-codes (names, paths, ports, file modes).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import timedelta

from labkit.constants import API_SERVER_PORT, ROLE_CONTROL_PLANE, ROLES, Role
from labkit.errors import LabkitError
from labkit.kubeadm.config import CONTROL_PLANE_COMPONENTS

ENCRYPTION_ALGORITHMS = ("RSA-2048", "RSA-3072", "RSA-4096", "ECDSA-P256", "ECDSA-P384")


# ClusterConfiguration defaults (kubeadm v1beta4), used when the lab's config leaves them out.
DEFAULT_SERVICE_SUBNET = "10.96.0.0/12"
DEFAULT_DNS_DOMAIN = "cluster.local"
DEFAULT_CLUSTER_NAME = "kubernetes"
DEFAULT_CERTIFICATE_VALIDITY = timedelta(hours=8760)
DEFAULT_CA_CERTIFICATE_VALIDITY = timedelta(hours=87600)
DEFAULT_TOKEN_TTL = timedelta(hours=24)


def endpoint_url(host_port: str, default_port: int) -> str:
    """`https://host:port` the way kubeadm formats an endpoint (IPv6 in brackets)."""
    host, port = split_host_port(host_port)
    return _https(host, port or default_port)


def split_host_port(host_port: str) -> tuple[str, int | None]:
    if host_port.startswith("["):
        host, _, rest = host_port[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else None
    if host_port.count(":") == 1:
        host, port = host_port.split(":")
        return host, int(port)
    return host_port, None


def url(scheme: str, host: str, port: int) -> str:
    """scheme://host:port with an IPv6 host in brackets (Go's net.JoinHostPort)."""
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}"


def _https(host: str, port: int) -> str:
    return url("https", host, port)


def nth_ip(subnet: str, index: int) -> str:
    """The index-th address of the first CIDR of a (possibly dual-stack) subnet list."""
    network = ipaddress.ip_network(subnet.split(",")[0].strip(), strict=False)
    return str(network[index])


@dataclass(frozen=True)
class CheckContext:
    """What kubeadm should have left on one node."""

    node: str
    role: Role
    advertise_address: str
    kubernetes_minor: int
    # Component -> image, from `parse_images_list` (labkit.kubeadm.images) over the kubeadm
    # under test.
    images: dict[str, str] = field(default_factory=dict)
    # controlPlaneEndpoint (host[:port]). On a worker of a lab without one, the endpoint it
    # joined, since that is where its kubelet.conf points.
    control_plane_endpoint: str | None = None
    service_subnet: str = DEFAULT_SERVICE_SUBNET
    pod_subnet: str | None = None
    dns_domain: str = DEFAULT_DNS_DOMAIN
    cluster_name: str = DEFAULT_CLUSTER_NAME
    encryption_algorithm: str = "RSA-2048"
    bind_port: int = API_SERVER_PORT
    apiserver_cert_sans: tuple[str, ...] = ()
    etcd_server_cert_sans: tuple[str, ...] = ()
    etcd_peer_cert_sans: tuple[str, ...] = ()
    # apiServer.extraArgs as (name, value) pairs, in the order of the kubeadm config.
    apiserver_extra_args: tuple[tuple[str, str], ...] = ()
    # The node `kubeadm init` ran on: it alone writes super-admin.conf.
    first_control_plane: bool = True
    # `kubeadm upgrade` wrote etcd's manifest anew: as for a first member, whichever node.
    etcd_upgraded: bool = False
    # After kubelet-finalize (init) or TLS bootstrap (join) kubelet.conf names the kubelet's
    # rotating client certificate instead of embedding one.
    kubelet_client_rotation: bool = True
    # nodeRegistration.criSocket, if the lab sets one.
    cri_socket: str | None = None
    certificate_validity: timedelta = DEFAULT_CERTIFICATE_VALIDITY
    ca_certificate_validity: timedelta = DEFAULT_CA_CERTIFICATE_VALIDITY

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise LabkitError(f"node {self.node}: role {self.role!r} is not one of {ROLES}")
        if self.encryption_algorithm not in ENCRYPTION_ALGORITHMS:
            raise LabkitError(
                f"encryptionAlgorithm {self.encryption_algorithm!r} is not one kubeadm knows; "
                f"use one of {', '.join(ENCRYPTION_ALGORITHMS)}"
            )
        try:
            ipaddress.ip_address(self.advertise_address)
        except ValueError:
            raise LabkitError(
                f"node {self.node}: advertise address {self.advertise_address!r} is not an IP "
                "address; kubeadm's localAPIEndpoint.advertiseAddress must be one"
            ) from None
        if self.role == ROLE_CONTROL_PLANE:
            missing = [c for c in CONTROL_PLANE_COMPONENTS if c not in self.images]
            if missing:
                raise LabkitError(
                    f"node {self.node}: no expected image for {', '.join(missing)}; fill "
                    "CheckContext.images from `kubeadm config images list` (parse_images_list)"
                )

    @property
    def is_control_plane(self) -> bool:
        return self.role == ROLE_CONTROL_PLANE

    @property
    def local_api_url(self) -> str:
        return _https(self.advertise_address, self.bind_port)

    @property
    def cluster_api_url(self) -> str | None:
        """Where admin.conf points: the controlPlaneEndpoint, else this node's address."""
        if self.control_plane_endpoint:
            return endpoint_url(self.control_plane_endpoint, self.bind_port)
        return self.local_api_url if self.is_control_plane else None

    @property
    def kubelet_uses_local_api(self) -> bool:
        # ControlPlaneKubeletLocalMode (beta and on from 1.33, GA in 1.35) points a control
        # plane's kubelet.conf at its own apiserver instead of the controlPlaneEndpoint.
        return self.is_control_plane and self.kubernetes_minor >= 33

    @property
    def loopback(self) -> str:
        return "::1" if ":" in self.advertise_address else "127.0.0.1"


@dataclass(frozen=True)
class ClusterContext:
    """What the cluster's objects should look like after the lab is up."""

    control_planes: tuple[str, ...]
    workers: tuple[str, ...] = ()
    images: dict[str, str] = field(default_factory=dict)
    service_subnet: str = DEFAULT_SERVICE_SUBNET
    # Where cluster-info points (the controlPlaneEndpoint, else the first control plane).
    api_server_url: str | None = None
    # The cluster CA (pki/ca.crt) as read from a control plane, to compare with cluster-info.
    ca_cert_pem: bytes | None = None
    # The `--discovery-token-ca-cert-hash` the lab's joins used (sha256:<hex>).
    discovery_token_ca_cert_hash: str | None = None
    token_ttl: timedelta = DEFAULT_TOKEN_TTL
    # The release's minor, for what kubeadm changed between minors; None: not known.
    kubernetes_minor: int | None = None

    def __post_init__(self) -> None:
        if not self.control_planes:
            raise LabkitError("a cluster check needs at least one control-plane node name")

    @property
    def nodes(self) -> tuple[str, ...]:
        return self.control_planes + self.workers


@dataclass(frozen=True)
class RegistryEndpoint:
    """The lab's registry as Docker shows it, and whether its `/v2/` answered (None) or
    why not."""

    name: str
    address: str
    port: int
    unanswered: str | None = None
