"""kubeadm's PKI table: the certificates of /etc/kubernetes/pki and what each must say.

Read from kubeadm's certs phase (certlist.go) and pkiutil (SANs, key usage, validity). The
comparisons every kubeadm certificate gets, whether a file under pki or a kubeconfig's client
certificate (subject, issuer, validity now), are here too, so both say them alike.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from labkit.checks.artifacts import NodeArtifacts
from labkit.checks.context import CheckContext, nth_ip, split_host_port
from labkit.checks.findings import Violation
from labkit.checks.parsing import load_certificate
from labkit.constants import PKI_DIR

SERVER = ExtendedKeyUsageOID.SERVER_AUTH
CLIENT = ExtendedKeyUsageOID.CLIENT_AUTH
# kubeadm's CertificateBackdate: notBefore is the start of `kubeadm init` minus 5 minutes.
BACKDATE = timedelta(minutes=5)
# Slack for a validity period: certificates renewed or issued by a later join.
PERIOD_TOLERANCE = timedelta(days=1)

# kubeadm 1.36 gave the apiserver's kubelet client its own ClusterRoleBinding.
FIRST_MINOR_WITH_KUBELET_API_ADMIN_BINDING = 36

AltNames = tuple[set[str], set[str]]  # DNS names, IP addresses (normalized)


@dataclass(frozen=True)
class CertSpec:
    """One certificate kubeadm writes: `name` is its path under pki without .crt/.key."""

    name: str
    issuer: str | None  # the issuing CA's name; None for a self-signed CA
    common_name: str  # "{node}" is the node name
    organizations: tuple[str, ...] = ()
    usages: tuple[ObjectIdentifier, ...] = ()
    alt_names: Callable[[CheckContext, str], AltNames] | None = None
    # The first minor whose kubeadm no longer puts `organizations` in the certificate.
    organizations_until_minor: int | None = None

    @property
    def is_ca(self) -> bool:
        return self.issuer is None

    @property
    def cert_path(self) -> str:
        return f"{PKI_DIR}/{self.name}.crt"

    @property
    def key_path(self) -> str:
        return f"{PKI_DIR}/{self.name}.key"

    def expected_cn(self, context: CheckContext) -> str:
        return self.common_name.format(node=context.node)

    def expected_organizations(self, context: CheckContext) -> tuple[str, ...]:
        until = self.organizations_until_minor
        return () if until is not None and context.kubernetes_minor >= until else self.organizations

    def expected_alt_names(self, context: CheckContext) -> AltNames:
        if self.is_ca:
            # NewSelfSignedCACert puts the CA's CN in its DNS names.
            return {self.common_name}, set()
        if self.alt_names is None:
            return set(), set()
        return self.alt_names(context, self.name)


def _with_sans(dns: set[str], ips: set[str], extra: tuple[str, ...]) -> AltNames:
    for name in extra:
        try:
            ips.add(str(ipaddress.ip_address(name)))
        except ValueError:
            dns.add(name)
    return dns, ips


def apiserver_alt_names(context: CheckContext, _: str) -> AltNames:
    dns = {context.node, "kubernetes", "kubernetes.default", "kubernetes.default.svc"}
    dns.add(f"kubernetes.default.svc.{context.dns_domain}")
    ips = {nth_ip(context.service_subnet, 1), context.advertise_address}
    extra = context.apiserver_cert_sans
    if context.control_plane_endpoint:
        extra = (split_host_port(context.control_plane_endpoint)[0], *extra)
    return _with_sans(dns, ips, extra)


def etcd_alt_names(context: CheckContext, name: str) -> AltNames:
    dns = {context.node, "localhost"}
    ips = {context.advertise_address, "127.0.0.1", "::1"}
    extra = context.etcd_server_cert_sans if name == "etcd/server" else context.etcd_peer_cert_sans
    return _with_sans(dns, ips, extra)


CERTIFICATES = (
    CertSpec("ca", None, "kubernetes"),
    CertSpec("apiserver", "ca", "kube-apiserver", (), (SERVER,), apiserver_alt_names),
    # From 1.36 kubeadm binds the user to system:kubelet-api-admin instead of putting it in
    # kubeadm:cluster-admins (bootstraptoken/node/tlsbootstrap.go AllowAPIServerToAccessKubeletAPI).
    CertSpec("apiserver-kubelet-client", "ca", "kube-apiserver-kubelet-client",
             ("kubeadm:cluster-admins",), (CLIENT,),
             organizations_until_minor=FIRST_MINOR_WITH_KUBELET_API_ADMIN_BINDING),
    CertSpec("front-proxy-ca", None, "front-proxy-ca"),
    CertSpec("front-proxy-client", "front-proxy-ca", "front-proxy-client", (), (CLIENT,)),
    CertSpec("etcd/ca", None, "etcd-ca"),
    CertSpec("etcd/server", "etcd/ca", "{node}", (), (SERVER, CLIENT), etcd_alt_names),
    CertSpec("etcd/peer", "etcd/ca", "{node}", (), (SERVER, CLIENT), etcd_alt_names),
    CertSpec("etcd/healthcheck-client", "etcd/ca", "kube-etcd-healthcheck-client", (), (CLIENT,)),
    CertSpec("apiserver-etcd-client", "etcd/ca", "kube-apiserver-etcd-client", (), (CLIENT,)),
)  # fmt: skip
BY_NAME = {spec.name: spec for spec in CERTIFICATES}
SA_KEY = f"{PKI_DIR}/sa.key"
SA_PUB = f"{PKI_DIR}/sa.pub"


def expected_certificates(context: CheckContext) -> tuple[CertSpec, ...]:
    # A worker gets the cluster CA only (join's kubelet-start writes it from cluster-info).
    return CERTIFICATES if context.is_control_plane else (BY_NAME["ca"],)


def read_certificate(node: NodeArtifacts, path: str) -> x509.Certificate | None:
    """The certificate at a path, or None when it is missing or unparseable."""
    entry = node.get(path)
    try:
        return load_certificate(entry.data) if entry else None
    except ValueError:
        return None


def _attribute(name: x509.Name, oid: ObjectIdentifier) -> list[str]:
    return [str(attribute.value) for attribute in name.get_attributes_for_oid(oid)]


def wrong_subject(
    where: str, cert: x509.Certificate, common_name: str, organizations: Iterable[str]
) -> Iterator[Violation]:
    """The subject must be exactly one CN and these Os: to the apiserver they are the user
    and its groups."""
    expected = ([common_name], sorted(organizations))
    found = (
        _attribute(cert.subject, NameOID.COMMON_NAME),
        sorted(_attribute(cert.subject, NameOID.ORGANIZATION_NAME)),
    )
    if found != expected:
        yield Violation(
            where,
            f"CN={common_name} O={expected[1] or '-'}",
            f"CN={','.join(found[0]) or '-'} O={found[1] or '-'}",
        )


def wrong_issuer(
    where: str, cert: x509.Certificate, ca: x509.Certificate, ca_path: str
) -> Iterator[Violation]:
    """The certificate must verify against the CA at `ca_path` (its signature, not only
    its issuer name)."""
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature) as error:
        reason = str(error) or type(error).__name__
        yield Violation(
            where,
            f"signed by {ca_path} ({ca.subject.rfc4514_string()})",
            f"issuer {cert.issuer.rfc4514_string()}: {reason}",
        )


def not_valid_at(where: str, cert: x509.Certificate, now: datetime) -> Iterator[Violation]:
    not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
    if not not_before <= now < not_after:
        yield Violation(
            where,
            f"valid at {now:%Y-%m-%dT%H:%M:%SZ}",
            f"valid {not_before:%Y-%m-%dT%H:%M:%SZ} .. {not_after:%Y-%m-%dT%H:%M:%SZ}",
        )
