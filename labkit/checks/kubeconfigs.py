"""The kubeconfig files under /etc/kubernetes (kubeadm's kubeconfig phase, the kubelet's
TLS bootstrap and kubelet-finalize)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from labkit.checks.artifacts import NodeArtifacts
from labkit.checks.certificates import (
    BY_NAME,
    not_valid_at,
    read_certificate,
    wrong_issuer,
    wrong_subject,
)
from labkit.checks.context import CheckContext
from labkit.checks.findings import RuleSet, Violation, kubeadm_source
from labkit.checks.parsing import (
    Kubeconfig,
    key_algorithm,
    load_certificate,
    load_private_key,
    parse_kubeconfig,
    same_public_key,
)
from labkit.constants import KUBELET_CLIENT_PEM, KUBERNETES_DIR

RULES = RuleSet(artifact="kubeconfig", scope="node")

KUBECONFIG_PHASE = kubeadm_source("phases/kubeconfig/kubeconfig.go")
KUBELET_FINALIZE = kubeadm_source("cmd/phases/init/kubeletfinalize.go")
CA_CERT = BY_NAME["ca"].cert_path

# The names the kubelet gives the kubeconfig it writes after TLS bootstrap (on every node
# that joined): k8s.io/kubernetes/pkg/kubelet/certificate/bootstrap.
BOOTSTRAPPED_NAMES = ("default-cluster", "default-context", "default-auth")


@dataclass(frozen=True)
class KubeconfigSpec:
    file: str
    user: str  # "{node}" is the node name
    organizations: tuple[str, ...] = ()
    # controller-manager and scheduler always talk to their own apiserver.
    local: bool = False

    @property
    def path(self) -> str:
        return f"{KUBERNETES_DIR}/{self.file}"


KUBECONFIGS = (
    KubeconfigSpec("admin.conf", "kubernetes-admin", ("kubeadm:cluster-admins",)),
    KubeconfigSpec("super-admin.conf", "kubernetes-super-admin", ("system:masters",)),
    KubeconfigSpec("kubelet.conf", "system:node:{node}", ("system:nodes",)),
    KubeconfigSpec("controller-manager.conf", "system:kube-controller-manager", local=True),
    KubeconfigSpec("scheduler.conf", "system:kube-scheduler", local=True),
)
BY_FILE = {spec.file: spec for spec in KUBECONFIGS}
# Files kubeadm writes somewhere; one of them where it does not belong is a finding.
KUBEADM_FILES = (*BY_FILE, "bootstrap-kubelet.conf")


def expected_kubeconfigs(context: CheckContext) -> tuple[KubeconfigSpec, ...]:
    if not context.is_control_plane:
        return (BY_FILE["kubelet.conf"],)
    # super-admin.conf (system:masters) is written by `kubeadm init` only.
    skip = () if context.first_control_plane else ("super-admin.conf",)
    return tuple(spec for spec in KUBECONFIGS if spec.file not in skip)


def bootstrapped(spec: KubeconfigSpec, context: CheckContext) -> bool:
    """Whether the kubelet, not kubeadm, wrote this file (kubelet.conf of a joined node)."""
    joined = not (context.is_control_plane and context.first_control_plane)
    return spec.file == "kubelet.conf" and joined


def rotates(spec: KubeconfigSpec, context: CheckContext) -> bool:
    """Whether the file should name the kubelet's rotating certificate instead of embedding."""
    return spec.file == "kubelet.conf" and (
        context.kubelet_client_rotation or bootstrapped(spec, context)
    )


def _parsed(
    node: NodeArtifacts, context: CheckContext
) -> Iterator[tuple[KubeconfigSpec, Kubeconfig]]:
    """The expected kubeconfigs that exist and parse; the structure rule reports the others."""
    for spec in expected_kubeconfigs(context):
        entry = node.get(spec.path)
        if entry is None:
            continue
        try:
            yield spec, parse_kubeconfig(entry.text)
        except ValueError:
            continue


@dataclass(frozen=True)
class ClientCredentials:
    certificate: x509.Certificate
    key: PrivateKeyTypes | None
    where: str  # the file the credentials were read from
    embedded: bool


def _credentials(
    node: NodeArtifacts, spec: KubeconfigSpec, kc: Kubeconfig
) -> ClientCredentials | None:
    try:
        if kc.client_certificate_data:
            key_data = kc.client_key_data
            key = load_private_key(key_data) if key_data else None
            return ClientCredentials(
                load_certificate(kc.client_certificate_data), key, spec.path, True
            )
        entry = node.get(kc.client_certificate or "")
        if entry is None:
            return None
        key_entry = node.get(kc.client_key or "")
        key = load_private_key(key_entry.data) if key_entry else None
        return ClientCredentials(load_certificate(entry.data), key, entry.path, False)
    except ValueError:
        return None


def _loaded(
    node: NodeArtifacts, context: CheckContext
) -> Iterator[tuple[KubeconfigSpec, ClientCredentials]]:
    for spec, kc in _parsed(node, context):
        credentials = _credentials(node, spec, kc)
        if credentials is not None:
            yield spec, credentials


@RULES.rule(id="kubeconfig.files", source=KUBECONFIG_PHASE)
def files(node: NodeArtifacts, context: CheckContext) -> Iterator[Violation]:
    """The node has the kubeconfigs of its role and none of kubeadm's others (super-admin.conf on
    the first control plane only; no bootstrap-kubelet.conf left)"""
    expected = {spec.file for spec in expected_kubeconfigs(context)}
    for name in KUBEADM_FILES:
        path = f"{KUBERNETES_DIR}/{name}"
        if name in expected and not node.has(path):
            yield Violation(path, f"the {name} of a {context.role}", "no such file")
        elif name not in expected and node.has(path):
            yield Violation(path, f"no {name} on this {context.role}", "the file exists")


@RULES.rule(id="kubeconfig.structure", source=kubeadm_source("util/kubeconfig/kubeconfig.go"))
def structure(node: NodeArtifacts, context: CheckContext) -> Iterator[Violation]:
    """Each kubeconfig parses, its current context resolves, its embedded credentials parse, and
    cluster, context and user carry the names kubeadm (or the kubelet's bootstrap) gives them"""
    for spec in expected_kubeconfigs(context):
        entry = node.get(spec.path)
        if entry is None:
            continue
        try:
            kc = parse_kubeconfig(entry.text)
        except ValueError as error:
            yield Violation(spec.path, "a kubeconfig with a resolvable current context", str(error))
            continue
        if bootstrapped(spec, context):
            expected = BOOTSTRAPPED_NAMES
        else:
            user = spec.user.format(node=context.node)
            expected = (context.cluster_name, f"{user}@{context.cluster_name}", user)
        found = (kc.cluster_name, kc.context_name, kc.user_name)
        if found != expected:
            yield Violation(
                spec.path, "cluster/context/user " + " / ".join(expected), " / ".join(found)
            )
        if kc.client_certificate_data and _credentials(node, spec, kc) is None:
            yield Violation(spec.path, "embedded client certificate and key in PEM", "unparseable")


def expected_server(spec: KubeconfigSpec, context: CheckContext) -> str | None:
    if spec.local or (spec.file == "kubelet.conf" and context.kubelet_uses_local_api):
        return context.local_api_url
    return context.cluster_api_url


@RULES.rule(id="kubeconfig.server", source=KUBECONFIG_PHASE)
def server(node: NodeArtifacts, context: CheckContext) -> Iterator[Violation]:
    """admin.conf and super-admin.conf point at the controlPlaneEndpoint;
    controller-manager.conf, scheduler.conf and a control plane's kubelet.conf at the local
    apiserver"""
    for spec, kc in _parsed(node, context):
        expected = expected_server(spec, context)
        if expected is not None and kc.server != expected:
            yield Violation(spec.path, f"server {expected}", kc.server or "no server")
        elif expected is None and not kc.server.startswith("https://"):
            yield Violation(spec.path, "an https:// server", kc.server or "no server")


@RULES.rule(id="kubeconfig.ca", source=KUBECONFIG_PHASE)
def ca(node: NodeArtifacts, context: CheckContext) -> Iterator[Violation]:
    """Each kubeconfig trusts exactly the cluster CA, /etc/kubernetes/pki/ca.crt"""
    ca_cert = read_certificate(node, CA_CERT)
    if ca_cert is None:
        return
    for spec, kc in _parsed(node, context):
        if kc.ca_data is None and kc.ca_file == CA_CERT:
            continue
        try:
            embedded = load_certificate(kc.ca_data) if kc.ca_data else None
        except ValueError:
            embedded = None
        if embedded != ca_cert:
            found = embedded.subject.rfc4514_string() if embedded else "no parseable CA data"
            yield Violation(spec.path, f"certificate-authority-data equal to {CA_CERT}", found)


@RULES.rule(id="kubeconfig.client-identity", source=KUBECONFIG_PHASE)
def client_identity(node: NodeArtifacts, context: CheckContext) -> Iterator[Violation]:
    """Each client certificate has kubeadm's user as CN and its group as O (admin.conf:
    kubernetes-admin in kubeadm:cluster-admins, ...)"""
    for spec, credentials in _loaded(node, context):
        user = spec.user.format(node=context.node)
        yield from wrong_subject(
            credentials.where, credentials.certificate, user, spec.organizations
        )


@RULES.rule(id="kubeconfig.client-issuer", source=KUBECONFIG_PHASE)
def client_issuer(node: NodeArtifacts, context: CheckContext) -> Iterator[Violation]:
    """Each client certificate is signed by the cluster CA"""
    ca_cert = read_certificate(node, CA_CERT)
    if ca_cert is not None:
        for _, credentials in _loaded(node, context):
            yield from wrong_issuer(credentials.where, credentials.certificate, ca_cert, CA_CERT)


@RULES.rule(id="kubeconfig.client-key-pair", source=KUBECONFIG_PHASE)
def client_key_pair(node: NodeArtifacts, context: CheckContext) -> Iterator[Violation]:
    """Each client key is present and matches its client certificate"""
    for _, credentials in _loaded(node, context):
        key = credentials.key
        if key is None:
            yield Violation(credentials.where, "a client key with the certificate", "no client key")
        elif not same_public_key(key.public_key(), credentials.certificate.public_key()):
            yield Violation(
                credentials.where, "the private key of the client certificate", "a different key"
            )


@RULES.rule(id="kubeconfig.client-validity", source=KUBECONFIG_PHASE)
def client_validity(node: NodeArtifacts, context: CheckContext) -> Iterator[Violation]:
    """Each client certificate is valid now"""
    for _, credentials in _loaded(node, context):
        yield from not_valid_at(credentials.where, credentials.certificate, node.read_at)


@RULES.rule(id="kubeconfig.key-algorithm", source=KUBECONFIG_PHASE)
def key_algorithm_rule(node: NodeArtifacts, context: CheckContext) -> Iterator[Violation]:
    """The client keys kubeadm embeds follow ClusterConfiguration.encryptionAlgorithm"""
    for _, credentials in _loaded(node, context):
        # The kubelet picks its own key type (ECDSA P-256) for the certificate it rotates.
        if not credentials.embedded:
            continue
        found = key_algorithm(credentials.certificate.public_key())
        if found != context.encryption_algorithm:
            yield Violation(credentials.where, f"a {context.encryption_algorithm} key", found)


@RULES.rule(id="kubeconfig.kubelet-rotation", source=KUBELET_FINALIZE)
def kubelet_rotation(node: NodeArtifacts, context: CheckContext) -> Iterator[Violation]:
    """kubelet.conf of a finalized or joined node names
    /var/lib/kubelet/pki/kubelet-client-current.pem for both certificate and key"""
    spec = BY_FILE["kubelet.conf"]
    if not rotates(spec, context):
        return
    for parsed_spec, kc in _parsed(node, context):
        if parsed_spec != spec:
            continue
        found = (kc.client_certificate, kc.client_key)
        if found != (KUBELET_CLIENT_PEM, KUBELET_CLIENT_PEM) or kc.client_certificate_data:
            shown = "embedded data" if kc.client_certificate_data else f"{found[0]} / {found[1]}"
            yield Violation(
                spec.path, f"client-certificate and client-key {KUBELET_CLIENT_PEM}", shown
            )
        elif not node.has(KUBELET_CLIENT_PEM):
            yield Violation(
                KUBELET_CLIENT_PEM, "the kubelet's current client certificate", "no such file"
            )
