"""The objects `kubeadm init` and `join` leave in the cluster: discovery (cluster-info and its
signatures), kubeadm's ConfigMaps, bootstrap tokens, RBAC, node roles and the two addons."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta

from cryptography import x509

from labkit.checks.certificates import FIRST_MINOR_WITH_KUBELET_API_ADMIN_BINDING
from labkit.checks.context import ClusterContext
from labkit.checks.findings import RuleSet, Violation, kubeadm_source
from labkit.checks.parsing import ca_cert_hash, load_certificate, load_yaml_mapping
from labkit.checks.snapshot import (
    BOOTSTRAP_TOKEN_TYPE,
    KUBE_PUBLIC,
    KUBE_SYSTEM,
    KUBEADM_CERTS_SECRET,
    ClusterSnapshot,
    Object,
    name_of,
    object_path,
)
from labkit.constants import SHARED_PKI_FILES

RULES = RuleSet(artifact="cluster", scope="cluster")

CLUSTERINFO = kubeadm_source("phases/bootstraptoken/clusterinfo/clusterinfo.go")
TLSBOOTSTRAP = kubeadm_source("phases/bootstraptoken/node/tlsbootstrap.go")

BOOTSTRAP_GROUP = "system:bootstrappers:kubeadm:default-node-token"
_TOKEN_ID = re.compile(r"^[a-z0-9]{6}$")
_TOKEN_SECRET = re.compile(r"^[a-z0-9]{16}$")


def secret_data(secret: Object) -> dict[str, str]:
    """A Secret's data, decoded from the API's base64."""
    decoded = {}
    for key, value in (secret.get("data") or {}).items():
        raw = value if isinstance(value, bytes) else base64.b64decode(value)
        decoded[key] = raw.decode("utf-8", errors="replace")
    return decoded


def verify_detached_jws(jws: str, payload: str, token_id: str, token_secret: str) -> str | None:
    """Why a detached JWS (RFC 7515 appendix F) is not kubeadm's signature, or None.

    The bootstrap signer signs cluster-info's kubeconfig with HS256, keyed by the token
    secret, with the token id as `kid`, and drops the payload: `header..signature`.
    """
    parts = jws.split(".")
    if len(parts) != 3 or parts[1]:
        return "not a detached compact JWS (header..signature)"
    try:
        header = json.loads(_b64url_decode(parts[0]))
        signature = _b64url_decode(parts[2])
    except (ValueError, binascii.Error) as error:
        return f"undecodable: {error}"
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        return f"header {header} is not alg HS256"
    if header.get("kid") != token_id:
        return f"header kid {header.get('kid')!r} is not token id {token_id!r}"
    signing_input = f"{parts[0]}.{_b64url_encode(payload.encode())}".encode()
    expected = hmac.new(token_secret.encode(), signing_input, hashlib.sha256).digest()
    if not hmac.compare_digest(expected, signature):
        return "HMAC-SHA256 over the kubeconfig with the token secret does not match"
    return None


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


CLUSTER_INFO = object_path(KUBE_PUBLIC, "ConfigMap", "cluster-info")


def _cluster_info(snapshot: ClusterSnapshot) -> tuple[str, dict[str, str]] | None:
    config_map = snapshot.find("config_maps", KUBE_PUBLIC, "cluster-info")
    if config_map is None:
        return None
    return CLUSTER_INFO, config_map.get("data") or {}


def _cluster_info_ca(data: dict[str, str]) -> tuple[str, x509.Certificate]:
    """(server, CA) of cluster-info's kubeconfig, whose single cluster is unnamed."""
    document = load_yaml_mapping(data.get("kubeconfig", ""))
    clusters = document.get("clusters") or []
    if len(clusters) != 1:
        raise ValueError(f"{len(clusters)} clusters, not one")
    cluster = clusters[0].get("cluster") or {}
    ca = base64.b64decode(cluster.get("certificate-authority-data", ""))
    return str(cluster.get("server", "")), load_certificate(ca)


@RULES.rule(id="cluster.cluster-info", source=CLUSTERINFO)
def cluster_info(snapshot: ClusterSnapshot, context: ClusterContext) -> Iterator[Violation]:
    """kube-public/cluster-info holds a kubeconfig with one cluster: the API server and the
    cluster CA"""
    found = _cluster_info(snapshot)
    if found is None:
        yield Violation(CLUSTER_INFO, "the ConfigMap", "none")
        return
    path, data = found
    try:
        server, ca = _cluster_info_ca(data)
    except (ValueError, binascii.Error) as error:
        yield Violation(path, "data.kubeconfig with one cluster and its CA", str(error))
        return
    if context.api_server_url and server != context.api_server_url:
        yield Violation(path, f"server {context.api_server_url}", server or "no server")
    if context.ca_cert_pem and ca != load_certificate(context.ca_cert_pem):
        yield Violation(path, "the CA of pki/ca.crt", ca.subject.rfc4514_string())


@RULES.rule(id="cluster.discovery-hash", source=kubeadm_source("discovery/token/token.go"))
def discovery_hash(snapshot: ClusterSnapshot, context: ClusterContext) -> Iterator[Violation]:
    """The CA in cluster-info hashes to the --discovery-token-ca-cert-hash joins used"""
    found = _cluster_info(snapshot)
    if found is None or not context.discovery_token_ca_cert_hash:
        return
    path, data = found
    try:
        _, ca = _cluster_info_ca(data)
    except (ValueError, binascii.Error):
        return
    if ca_cert_hash(ca) != context.discovery_token_ca_cert_hash:
        yield Violation(path, context.discovery_token_ca_cert_hash, ca_cert_hash(ca))


def _tokens(snapshot: ClusterSnapshot) -> Iterator[tuple[str, dict[str, str]]]:
    for secret in snapshot.secrets:
        if secret.get("type") == BOOTSTRAP_TOKEN_TYPE:
            yield name_of(secret), secret_data(secret)


@RULES.rule(id="cluster.cluster-info-jws", source=kubeadm_source("discovery/token/token.go"))
def cluster_info_jws(snapshot: ClusterSnapshot, context: ClusterContext) -> Iterator[Violation]:
    """cluster-info carries a valid jws-kubeconfig-<token-id> (HS256 over its kubeconfig, keyed
    by the token secret) for every signing bootstrap token"""
    found = _cluster_info(snapshot)
    if found is None:
        return
    path, data = found
    for _, token in _tokens(snapshot):
        token_id, secret = token.get("token-id", ""), token.get("token-secret", "")
        if token.get("usage-bootstrap-signing") != "true" or not token_id:
            continue
        key = f"jws-kubeconfig-{token_id}"
        if key not in data:
            yield Violation(path, f"data.{key} signing the kubeconfig", "no such key")
            continue
        problem = verify_detached_jws(data[key], data.get("kubeconfig", ""), token_id, secret)
        if problem:
            yield Violation(path, f"data.{key}: a valid detached JWS", problem)


Subject = tuple[str, str, str | None]  # kind, name, namespace


def _subjects(binding: Object) -> set[Subject]:
    return {
        (s.get("kind", ""), s.get("name", ""), s.get("namespace"))
        for s in binding.get("subjects") or []
    }


def _binding_violation(
    binding: Object | None, path: str, role: tuple[str, str], subjects: set[Subject]
) -> Iterator[Violation]:
    expected = f"{role[0]} {role[1]} bound to {sorted(subjects, key=str)}"
    if binding is None:
        yield Violation(path, expected, "none")
        return
    ref = binding.get("roleRef") or {}
    found_role = (ref.get("kind"), ref.get("name"))
    missing = sorted(subjects - _subjects(binding), key=str)
    if found_role != role or missing:
        yield Violation(path, expected, f"{found_role[0]} {found_role[1]}; missing {missing}")


@RULES.rule(id="cluster.public-bindings", source=CLUSTERINFO)
def public_bindings(snapshot: ClusterSnapshot, context: ClusterContext) -> Iterator[Violation]:
    """Anonymous users may read cluster-info; bootstrap tokens and nodes may read kubeadm-config
    and kubelet-config"""
    readers = {("Group", BOOTSTRAP_GROUP, None), ("Group", "system:nodes", None)}
    expected = (
        (KUBE_PUBLIC, "kubeadm:bootstrap-signer-clusterinfo", {("User", "system:anonymous", None)}),
        (KUBE_SYSTEM, "kubeadm:nodes-kubeadm-config", readers),
        (KUBE_SYSTEM, "kubeadm:kubelet-config", readers),
    )
    for namespace, name, subjects in expected:
        binding = snapshot.find("role_bindings", namespace, name)
        path = object_path(namespace, "RoleBinding", name)
        yield from _binding_violation(binding, path, ("Role", name), subjects)


@RULES.rule(
    id="cluster.kubeadm-configmaps", source=kubeadm_source("phases/uploadconfig/uploadconfig.go")
)
def kubeadm_configmaps(snapshot: ClusterSnapshot, context: ClusterContext) -> Iterator[Violation]:
    """kube-system/kubeadm-config holds the ClusterConfiguration and kube-system/kubelet-config
    the KubeletConfiguration (key kubelet)"""
    for name, key, kind in (
        ("kubeadm-config", "ClusterConfiguration", "ClusterConfiguration"),
        ("kubelet-config", "kubelet", "KubeletConfiguration"),
    ):
        path = object_path(KUBE_SYSTEM, "ConfigMap", name)
        config_map = snapshot.find("config_maps", KUBE_SYSTEM, name)
        if config_map is None:
            yield Violation(path, f"the ConfigMap with data.{key}", "none")
            continue
        try:
            found = load_yaml_mapping((config_map.get("data") or {}).get(key, "")).get("kind")
        except ValueError as error:
            found = f"no YAML ({error})"
        if found != kind:
            yield Violation(path, f"data.{key}: a {kind}", f"data.{key}: {found}")


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _token_problems(name: str, token: dict[str, str], snapshot: ClusterSnapshot,
                    context: ClusterContext, created: str | None) -> Iterator[str]:  # fmt: skip
    token_id = token.get("token-id", "")
    if not _TOKEN_ID.match(token_id) or name != f"bootstrap-token-{token_id}":
        yield f"token-id {token_id!r} (six [a-z0-9], named bootstrap-token-<id>)"
    if not _TOKEN_SECRET.match(token.get("token-secret", "")):
        yield "token-secret is not sixteen [a-z0-9]"
    for usage in ("usage-bootstrap-authentication", "usage-bootstrap-signing"):
        if token.get(usage) != "true":
            yield f"{usage}={token.get(usage)!r}"
    if BOOTSTRAP_GROUP not in token.get("auth-extra-groups", "").split(","):
        yield f"auth-extra-groups={token.get('auth-extra-groups')!r}"
    try:
        expiration = _parse_time(token.get("expiration", ""))
    except ValueError:
        yield f"expiration={token.get('expiration')!r} is not RFC 3339"
        return
    if expiration <= snapshot.taken_at:
        yield f"expired at {token['expiration']}"
    if created and expiration - _parse_time(created) > context.token_ttl + _TTL_SLACK:
        yield f"expiration {token['expiration']} is beyond the {context.token_ttl} TTL"


# Secrets are created a moment after kubeadm computes the expiration; allow for clock skew.
_TTL_SLACK = timedelta(minutes=5)


@RULES.rule(
    id="cluster.bootstrap-token", source=kubeadm_source("phases/bootstraptoken/node/token.go")
)
def bootstrap_token(snapshot: ClusterSnapshot, context: ClusterContext) -> Iterator[Violation]:
    """A bootstrap token Secret exists, for authentication and signing, in group
    system:bootstrappers:kubeadm:default-node-token, expiring within the token TTL (24h)"""
    proxies = set(_certs_proxy_tokens(snapshot))
    secrets = [
        s
        for s in snapshot.secrets
        if s.get("type") == BOOTSTRAP_TOKEN_TYPE and name_of(s) not in proxies
    ]
    if not secrets:
        yield Violation(
            object_path(KUBE_SYSTEM, "Secret", "bootstrap-token-*"), "a bootstrap token", "none"
        )
    for secret in secrets:
        name = name_of(secret)
        created = (secret.get("metadata") or {}).get("creationTimestamp")
        for problem in _token_problems(name, secret_data(secret), snapshot, context, created):
            yield Violation(
                object_path(KUBE_SYSTEM, "Secret", name), "kubeadm's bootstrap token", problem
            )


# copycerts.createShortLivedBootstrapToken: no usages, no groups, only this description.
CERTS_PROXY_DESCRIPTION = "Proxy for managing TTL for the kubeadm-certs secret"
CERTS_TOKEN_TTL = timedelta(hours=2)
# The Secret's keys: each shared file's name with "/" made "-" (copycerts).
KUBEADM_CERTS_KEYS = frozenset(name.replace("/", "-") for name in SHARED_PKI_FILES)


def _certs_proxy_tokens(snapshot: ClusterSnapshot) -> Iterator[str]:
    """The bootstrap-token Secrets that only time the kubeadm-certs Secret: the one that
    owns it, and any with the description kubeadm gives them."""
    certs = snapshot.find("secrets", KUBE_SYSTEM, KUBEADM_CERTS_SECRET)
    for owner in ((certs or {}).get("metadata") or {}).get("ownerReferences") or ():
        yield str(owner.get("name", ""))
    for secret in snapshot.secrets:
        if secret_data(secret).get("description") == CERTS_PROXY_DESCRIPTION:
            yield name_of(secret)


@RULES.rule(id="cluster.kubeadm-certs", source=kubeadm_source("phases/copycerts/copycerts.go"))
def kubeadm_certs(snapshot: ClusterSnapshot, context: ClusterContext) -> Iterator[Violation]:
    """The kubeadm-certs Secret (`kubeadm init --upload-certs`, for joining control planes)
    holds the shared keys (CA, front-proxy CA, service-account pair, etcd CA) while the
    short-lived (2h) token owning it lives; once the token expires both are gone"""
    path = object_path(KUBE_SYSTEM, "Secret", KUBEADM_CERTS_SECRET)
    certs = snapshot.find("secrets", KUBE_SYSTEM, KUBEADM_CERTS_SECRET)
    tokens = {name_of(s): s for s in snapshot.secrets if s.get("type") == BOOTSTRAP_TOKEN_TYPE}
    living = []
    for name in dict.fromkeys(_certs_proxy_tokens(snapshot)):
        token = tokens.get(name)
        if token is None:
            yield Violation(path, "owned by a bootstrap token that exists", f"{name}: none")
            continue
        expiration = secret_data(token).get("expiration", "")
        try:
            expires = _parse_time(expiration)
        except ValueError:
            yield Violation(path, "its token expires", f"{name}: expiration={expiration!r}")
            continue
        created = (token.get("metadata") or {}).get("creationTimestamp")
        if created and expires - _parse_time(created) > CERTS_TOKEN_TTL + _TTL_SLACK:
            yield Violation(path, f"its token lives {CERTS_TOKEN_TTL}", f"{name}: to {expiration}")
        if expires > snapshot.taken_at:
            living.append(name)
    if living and certs is None:
        yield Violation(path, f"the Secret while {', '.join(living)} lives", "none")
    if certs is not None:
        missing = sorted(KUBEADM_CERTS_KEYS - set(certs.get("data") or {}))
        if missing:
            yield Violation(path, "the shared keys", f"missing {', '.join(missing)}")


_NODE_CSR = "system:certificates.k8s.io:certificatesigningrequests"
CLUSTER_ROLE_BINDINGS = {
    "kubeadm:kubelet-bootstrap": ("system:node-bootstrapper", ("Group", BOOTSTRAP_GROUP, None)),
    "kubeadm:node-autoapprove-bootstrap": (
        f"{_NODE_CSR}:nodeclient", ("Group", BOOTSTRAP_GROUP, None)),
    "kubeadm:node-autoapprove-certificate-rotation": (
        f"{_NODE_CSR}:selfnodeclient", ("Group", "system:nodes", None)),
    "kubeadm:get-nodes": ("kubeadm:get-nodes", ("Group", BOOTSTRAP_GROUP, None)),
    "kubeadm:cluster-admins": ("cluster-admin", ("Group", "kubeadm:cluster-admins", None)),
    "kubeadm:node-proxier": ("system:node-proxier", ("ServiceAccount", "kube-proxy", KUBE_SYSTEM)),
    "system:coredns": ("system:coredns", ("ServiceAccount", "coredns", KUBE_SYSTEM)),
}  # fmt: skip
KUBELET_API_ADMIN_BINDING = {
    "kubeadm:apiserver-kubelet-client": (
        "system:kubelet-api-admin", ("User", "kube-apiserver-kubelet-client", None)),
}  # fmt: skip


@RULES.rule(id="cluster.cluster-role-bindings", source=TLSBOOTSTRAP)
def cluster_role_bindings(
    snapshot: ClusterSnapshot, context: ClusterContext
) -> Iterator[Violation]:
    """kubeadm's ClusterRoleBindings exist (TLS bootstrap, CSR auto-approval, get-nodes,
    kubeadm:cluster-admins -> cluster-admin, kube-proxy, CoreDNS, and from 1.36 the
    apiserver's kubelet client -> system:kubelet-api-admin)"""
    bindings = dict(CLUSTER_ROLE_BINDINGS)
    minor = context.kubernetes_minor
    if minor is not None and minor >= FIRST_MINOR_WITH_KUBELET_API_ADMIN_BINDING:
        bindings.update(KUBELET_API_ADMIN_BINDING)
    for name, (role, subject) in bindings.items():
        binding = snapshot.find("cluster_role_bindings", None, name)
        path = object_path(None, "ClusterRoleBinding", name)
        yield from _binding_violation(binding, path, ("ClusterRole", role), {subject})
