"""The kubelet's files kubeadm writes: /var/lib/kubelet/config.yaml (the KubeletConfiguration
from the kubelet-config ConfigMap) and /var/lib/kubelet/kubeadm-flags.env."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from labkit.checks.artifacts import NodeArtifacts
from labkit.checks.context import CheckContext, nth_ip
from labkit.checks.findings import RuleSet, Violation, cis_source, kubeadm_source
from labkit.checks.parsing import load_yaml_mapping
from labkit.constants import CA_CERT, KUBELET_CONFIG, KUBELET_FLAGS_ENV, MANIFESTS_DIR

RULES = RuleSet(artifact="kubelet", scope="node")

KUBELET_COMPONENTCONFIG = kubeadm_source("componentconfigs/kubelet.go")
KUBELET_FLAGS = kubeadm_source("phases/kubelet/flags.go")
FLAGS_VARIABLE = "KUBELET_KUBEADM_ARGS"


def parse_flags_env(text: str) -> dict[str, str]:
    """The flags of kubeadm-flags.env (`KUBELET_KUBEADM_ARGS="--a=b --c=d"`)."""
    content = text.strip()
    prefix = f"{FLAGS_VARIABLE}="
    if not content.startswith(prefix):
        raise ValueError(f"does not start with {prefix}")
    # As kubeadm's ReadKubeletDynamicEnvFile: drop the quotes, split on whitespace.
    words = content[len(prefix) :].strip('"').split()
    flags: dict[str, str] = {}
    # kubeadm writes --name=value; the kubelet also accepts `--name value`.
    for index, word in enumerate(words):
        if not word.startswith("--"):
            continue
        name, sep, value = word[2:].partition("=")
        if not sep and index + 1 < len(words) and not words[index + 1].startswith("--"):
            value = words[index + 1]
        flags[name] = value
    return flags


def _config(node: NodeArtifacts) -> dict[str, Any] | None:
    entry = node.get(KUBELET_CONFIG)
    try:
        return load_yaml_mapping(entry.text) if entry else None
    except ValueError:
        return None


def _flags(node: NodeArtifacts) -> dict[str, str] | None:
    entry = node.get(KUBELET_FLAGS_ENV)
    try:
        return parse_flags_env(entry.text) if entry else None
    except ValueError:
        return None


def _field(config: dict[str, Any], dotted: str) -> Any:
    value: Any = config
    for key in dotted.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value


@RULES.rule(id="kubelet.files", source=kubeadm_source("phases/kubelet/config.go"))
def files(node: NodeArtifacts, context: CheckContext) -> Iterator[Violation]:
    """config.yaml is a KubeletConfiguration and kubeadm-flags.env sets KUBELET_KUBEADM_ARGS"""
    entry = node.get(KUBELET_CONFIG)
    if entry is None:
        yield Violation(KUBELET_CONFIG, "the KubeletConfiguration kubeadm writes", "no such file")
    else:
        try:
            config = load_yaml_mapping(entry.text)
            kind = (config.get("apiVersion"), config.get("kind"))
            if kind != ("kubelet.config.k8s.io/v1beta1", "KubeletConfiguration"):
                raise ValueError(f"apiVersion/kind {kind[0]}/{kind[1]}")
        except ValueError as error:
            yield Violation(
                KUBELET_CONFIG, "kubelet.config.k8s.io/v1beta1 KubeletConfiguration", str(error)
            )
    entry = node.get(KUBELET_FLAGS_ENV)
    if entry is None:
        yield Violation(KUBELET_FLAGS_ENV, "the kubelet flags kubeadm writes", "no such file")
        return
    try:
        parse_flags_env(entry.text)
    except ValueError as error:
        yield Violation(KUBELET_FLAGS_ENV, f'{FLAGS_VARIABLE}="..."', str(error))


@dataclass(frozen=True)
class ConfigField:
    """One KubeletConfiguration field and the value kubeadm defaults it to."""

    rule_id: str
    statement: str
    field: str  # dotted path
    expected: Any  # a value, or a function of the CheckContext
    source: str = KUBELET_COMPONENTCONFIG
    known: bool = False

    def check(self, node: NodeArtifacts, context: CheckContext) -> Iterator[Violation]:
        config = _config(node)
        if config is None:
            return
        want = self.expected(context) if callable(self.expected) else self.expected
        found = _field(config, self.field)
        if found != want:
            yield Violation(KUBELET_CONFIG, f"{self.field}: {want}", f"{self.field}: {found}")


CONFIG_FIELDS = (
    ConfigField("kubelet.cgroup-driver", "The kubelet uses the systemd cgroup driver",
                "cgroupDriver", "systemd"),
    ConfigField("kubelet.anonymous-auth", "The kubelet refuses anonymous requests (CIS 4.2.1)",
                "authentication.anonymous.enabled", False),
    ConfigField("kubelet.webhook-authentication",
                "The kubelet authenticates bearer tokens through the apiserver (webhook)",
                "authentication.webhook.enabled", True),
    ConfigField("kubelet.authorization-mode",
                "The kubelet authorizes requests through the apiserver (Webhook; CIS 4.2.2)",
                "authorization.mode", "Webhook"),
    ConfigField("kubelet.client-ca",
                "The kubelet verifies client certificates against the cluster CA (CIS 4.2.3)",
                "authentication.x509.clientCAFile", CA_CERT),
    ConfigField("kubelet.cluster-dns",
                "Pods get the kube-dns Service IP, the 10th address of the service subnet",
                "clusterDNS", lambda context: [nth_ip(context.service_subnet, 10)]),
    ConfigField("kubelet.cluster-domain", "The kubelet's cluster domain is networking.dnsDomain",
                "clusterDomain", lambda context: context.dns_domain),
    ConfigField("kubelet.static-pod-path",
                f"The kubelet runs the static pods of {MANIFESTS_DIR}",
                "staticPodPath", MANIFESTS_DIR),
    ConfigField("kubelet.rotate-certificates",
                "The kubelet rotates its client certificate (CIS 4.2.10)",
                "rotateCertificates", True, cis_source("node")),
)  # fmt: skip
RULES.add_rows(CONFIG_FIELDS)


@RULES.rule(id="kubelet.cri-endpoint", source=KUBELET_FLAGS)
def cri_endpoint(node: NodeArtifacts, context: CheckContext) -> Iterator[Violation]:
    """The kubelet is given the CRI endpoint: containerRuntimeEndpoint in config.yaml
    (NodeLocalCRISocket, on from 1.34) or --container-runtime-endpoint in kubeadm-flags.env"""
    config, flags = _config(node), _flags(node)
    if config is None or flags is None:
        return
    found = flags.get("container-runtime-endpoint") or config.get("containerRuntimeEndpoint")
    where = KUBELET_FLAGS_ENV if "container-runtime-endpoint" in flags else KUBELET_CONFIG
    if not found:
        yield Violation(
            KUBELET_CONFIG,
            f"containerRuntimeEndpoint here or --container-runtime-endpoint in {KUBELET_FLAGS_ENV}",
            "neither",
        )
    elif context.cri_socket and found != context.cri_socket:
        yield Violation(where, f"CRI endpoint {context.cri_socket}", found)


@RULES.rule(id="kubelet.pause-image", source=KUBELET_FLAGS)
def pause_image(node: NodeArtifacts, context: CheckContext) -> Iterator[Violation]:
    """kubeadm-flags.env's --pod-infra-container-image, when kubeadm writes it, is the pause
    image `kubeadm config images list` names"""
    flags = _flags(node)
    expected = context.images.get("pause")
    if flags is None or expected is None or "pod-infra-container-image" not in flags:
        return
    found = flags["pod-infra-container-image"]
    if found != expected:
        yield Violation(KUBELET_FLAGS_ENV, f"--pod-infra-container-image={expected}", found)
