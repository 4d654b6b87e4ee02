"""The certificates and keys under /etc/kubernetes/pki (kubeadm's certs phase).

One row per certificate in `labkit.checks.certificates`, and one rule per property, checked on
every row: adding a certificate is adding a row.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from datetime import timedelta
from typing import Any, TypeVar

from cryptography import x509
from cryptography.x509.oid import ObjectIdentifier

from labkit.checks.artifacts import NodeArtifacts
from labkit.checks.certificates import (
    BACKDATE,
    BY_NAME,
    CLIENT,
    PERIOD_TOLERANCE,
    SA_KEY,
    SA_PUB,
    SERVER,
    AltNames,
    CertSpec,
    expected_certificates,
    not_valid_at,
    read_certificate,
    wrong_issuer,
    wrong_subject,
)
from labkit.checks.context import CheckContext
from labkit.checks.findings import RuleSet, Violation, kubeadm_source
from labkit.checks.parsing import (
    key_algorithm,
    load_certificate,
    load_private_key,
    load_public_key,
    same_public_key,
)
from labkit.constants import PKI_DIR

RULES = RuleSet(artifact="pki", scope="node")

CERTLIST = kubeadm_source("phases/certs/certlist.go")
PKI_HELPERS = kubeadm_source("util/pkiutil/pki_helpers.go")


def _loaded(
    node: NodeArtifacts, context: CheckContext
) -> Iterator[tuple[CertSpec, x509.Certificate]]:
    """The expected certificates that exist and parse; `pki.present` reports the others."""
    for spec in expected_certificates(context):
        cert = read_certificate(node, spec.cert_path)
        if cert is not None:
            yield spec, cert


@RULES.rule(id="pki.present", source=CERTLIST)
def present(node: NodeArtifacts, context: CheckContext) -> Iterator[Violation]:
    """Every certificate and key of kubeadm's PKI table exists and parses as PEM"""
    for spec in expected_certificates(context):
        paths = [(spec.cert_path, load_certificate)]
        if context.is_control_plane:
            paths.append((spec.key_path, load_private_key))
        for path, load in paths:
            entry = node.get(path)
            if entry is None:
                yield Violation(path, f"the {spec.name} file kubeadm writes", "no such file")
                continue
            try:
                load(entry.data)
            except ValueError as error:
                yield Violation(path, "a PEM file kubeadm can load", f"unparseable: {error}")


@RULES.rule(id="pki.issuer", source=CERTLIST)
def issuer(node: NodeArtifacts, context: CheckContext) -> Iterator[Violation]:
    """Each certificate is signed by its CA (self-signed for the three CAs)"""
    for spec, cert in _loaded(node, context):
        ca_spec = BY_NAME[spec.issuer] if spec.issuer else spec
        ca = read_certificate(node, ca_spec.cert_path)
        if ca is not None:
            yield from wrong_issuer(spec.cert_path, cert, ca, ca_spec.cert_path)


@RULES.rule(id="pki.key-pair", source=PKI_HELPERS)
def key_pair(node: NodeArtifacts, context: CheckContext) -> Iterator[Violation]:
    """Each certificate's public key matches the private key next to it"""
    if not context.is_control_plane:
        return
    for spec, cert in _loaded(node, context):
        entry = node.get(spec.key_path)
        try:
            key = load_private_key(entry.data) if entry else None
        except ValueError:
            continue
        if key is not None and not same_public_key(key.public_key(), cert.public_key()):
            yield Violation(
                spec.key_path, f"the private key of {spec.cert_path}", "a different key pair"
            )


@RULES.rule(id="pki.subject", source=CERTLIST)
def subject(node: NodeArtifacts, context: CheckContext) -> Iterator[Violation]:
    """Each certificate has the CN and O of kubeadm's PKI table"""
    for spec, cert in _loaded(node, context):
        yield from wrong_subject(
            spec.cert_path, cert, spec.expected_cn(context), spec.expected_organizations(context)
        )


_Extension = TypeVar("_Extension", bound=x509.ExtensionType)


def _extension(cert: x509.Certificate, kind: type[_Extension]) -> _Extension | None:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _found_alt_names(cert: x509.Certificate) -> AltNames:
    sans = _extension(cert, x509.SubjectAlternativeName)
    if sans is None:
        return set(), set()
    dns = set(sans.get_values_for_type(x509.DNSName))
    ips = {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)}
    return dns, ips


def _describe_alt_names(dns: set[str], ips: set[str]) -> str:
    parts = [f"DNS:{','.join(sorted(dns))}"] if dns else []
    parts += [f"IP:{','.join(sorted(ips))}"] if ips else []
    return " ".join(parts) or "none"


@RULES.rule(id="pki.sans", source=PKI_HELPERS)
def sans(node: NodeArtifacts, context: CheckContext) -> Iterator[Violation]:
    """Each certificate has exactly the DNS and IP SANs kubeadm computes for it"""
    for spec, cert in _loaded(node, context):
        dns, ips = spec.expected_alt_names(context)
        ips = {str(ipaddress.ip_address(ip)) for ip in ips}
        found_dns, found_ips = _found_alt_names(cert)
        if (dns, ips) != (found_dns, found_ips):
            missing = _describe_alt_names(dns - found_dns, ips - found_ips)
            extra = _describe_alt_names(found_dns - dns, found_ips - ips)
            yield Violation(
                spec.cert_path,
                f"SANs {_describe_alt_names(dns, ips)}",
                f"missing {missing}; unexpected {extra}",
            )


_KEY_USAGES = ("digital_signature", "key_encipherment", "key_cert_sign", "content_commitment",
               "data_encipherment", "key_agreement", "crl_sign")  # fmt: skip


def _key_usages(cert: x509.Certificate) -> set[str]:
    usage = _extension(cert, x509.KeyUsage)
    if usage is None:
        return set()
    return {name for name in _KEY_USAGES if getattr(usage, name)}


@RULES.rule(id="pki.key-usage", source=PKI_HELPERS)
def key_usage(node: NodeArtifacts, context: CheckContext) -> Iterator[Violation]:
    """Key usage is digitalSignature+keyEncipherment, plus keyCertSign on a CA"""
    for spec, cert in _loaded(node, context):
        expected = {"digital_signature", "key_encipherment"}
        if spec.is_ca:
            expected.add("key_cert_sign")
        found = _key_usages(cert)
        if found != expected:
            yield Violation(
                spec.cert_path,
                f"key usage {','.join(sorted(expected))}",
                ",".join(sorted(found)) or "none",
            )


@RULES.rule(id="pki.ext-key-usage", source=CERTLIST)
def ext_key_usage(node: NodeArtifacts, context: CheckContext) -> Iterator[Violation]:
    """Extended key usage is serverAuth/clientAuth as kubeadm's table says; none on a CA"""
    for spec, cert in _loaded(node, context):
        found = set(_extension(cert, x509.ExtendedKeyUsage) or ())
        if found != set(spec.usages):
            yield Violation(
                spec.cert_path,
                f"extended key usage {_oid_names(spec.usages)}",
                _oid_names(found),
            )


_EKU_NAMES = {SERVER: "serverAuth", CLIENT: "clientAuth"}


def _oid_names(oids: Iterable[ObjectIdentifier]) -> str:
    names = sorted(_EKU_NAMES.get(oid, oid.dotted_string) for oid in oids)
    return ",".join(names) or "none"


@RULES.rule(id="pki.ca-constraint", source=PKI_HELPERS)
def ca_constraint(node: NodeArtifacts, context: CheckContext) -> Iterator[Violation]:
    """The three CAs carry basicConstraints CA:TRUE; every other certificate CA:FALSE"""
    for spec, cert in _loaded(node, context):
        constraints = _extension(cert, x509.BasicConstraints)
        is_ca = constraints is not None and constraints.ca
        if is_ca != spec.is_ca:
            yield Violation(
                spec.cert_path, f"CA:{str(spec.is_ca).upper()}", f"CA:{str(is_ca).upper()}"
            )


@RULES.rule(id="pki.validity-now", source=CERTLIST)
def validity_now(node: NodeArtifacts, context: CheckContext) -> Iterator[Violation]:
    """Each certificate is valid now: notBefore <= now < notAfter"""
    for spec, cert in _loaded(node, context):
        yield from not_valid_at(spec.cert_path, cert, node.read_at)


def _hours(period: timedelta) -> str:
    return f"{period.total_seconds() / 3600:.1f}h"


@RULES.rule(id="pki.validity-period", source=CERTLIST)
def validity_period(node: NodeArtifacts, context: CheckContext) -> Iterator[Violation]:
    """Leaves are valid for certificateValidityPeriod, CAs for caCertificateValidityPeriod"""
    for spec, cert in _loaded(node, context):
        period = context.ca_certificate_validity if spec.is_ca else context.certificate_validity
        # notAfter counts from the start of kubeadm, notBefore from 5 minutes before it.
        expected = period + BACKDATE
        found = cert.not_valid_after_utc - cert.not_valid_before_utc
        if abs(found - expected) > PERIOD_TOLERANCE:
            yield Violation(spec.cert_path, f"valid for about {_hours(period)}", _hours(found))


@RULES.rule(id="pki.key-algorithm", source=PKI_HELPERS)
def key_algorithm_rule(node: NodeArtifacts, context: CheckContext) -> Iterator[Violation]:
    """Every certificate and sa.key use ClusterConfiguration.encryptionAlgorithm"""
    for spec, cert in _loaded(node, context):
        found = key_algorithm(cert.public_key())
        if found != context.encryption_algorithm:
            yield Violation(spec.cert_path, f"a {context.encryption_algorithm} key", found)
    entry = node.get(SA_KEY) if context.is_control_plane else None
    try:
        sa_key = load_private_key(entry.data) if entry else None
    except ValueError:
        return
    found = key_algorithm(sa_key.public_key()) if sa_key is not None else None
    if found is not None and found != context.encryption_algorithm:
        yield Violation(SA_KEY, f"a {context.encryption_algorithm} key", found)


@RULES.rule(id="pki.service-account-key", source=kubeadm_source("phases/certs/certs.go"))
def service_account_key(node: NodeArtifacts, context: CheckContext) -> Iterator[Violation]:
    """sa.key and sa.pub exist on a control plane and are one key pair"""
    if not context.is_control_plane:
        return
    loaded: dict[str, Any] = {}
    for path, load in ((SA_KEY, load_private_key), (SA_PUB, load_public_key)):
        entry = node.get(path)
        if entry is None:
            yield Violation(path, "the service-account signing key kubeadm writes", "no such file")
            continue
        try:
            loaded[path] = load(entry.data)
        except ValueError as error:
            yield Violation(path, "a PEM key", f"unparseable: {error}")
    if len(loaded) == 2 and not same_public_key(loaded[SA_KEY].public_key(), loaded[SA_PUB]):
        yield Violation(SA_PUB, f"the public half of {SA_KEY}", "a different public key")


@RULES.rule(id="pki.worker-ca-only", source=kubeadm_source("cmd/phases/join/kubelet.go"))
def worker_ca_only(node: NodeArtifacts, context: CheckContext) -> Iterator[Violation]:
    """A worker's /etc/kubernetes/pki holds ca.crt and nothing else (no CA key)"""
    if context.is_control_plane:
        return
    allowed = BY_NAME["ca"].cert_path
    for entry in node.under(PKI_DIR):
        if not entry.is_dir and entry.path != allowed:
            yield Violation(entry.path, f"only {allowed} on a worker", "an extra PKI file")
