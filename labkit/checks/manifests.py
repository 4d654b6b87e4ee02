"""The static pod manifests under /etc/kubernetes/manifests (kubeadm's control-plane and
etcd phases)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from labkit.checks.artifacts import NodeArtifacts
from labkit.checks.component_flags import required_flags
from labkit.checks.context import CheckContext
from labkit.checks.findings import RuleSet, Violation, kubeadm_source
from labkit.checks.parsing import load_yaml_mapping, parse_flags
from labkit.constants import CONTROL_PLANE, ETCD_METRICS_PORT, MANIFESTS_DIR, manifest_path
from labkit.kubeadm.config import CONTROL_PLANE_COMPONENTS

RULES = RuleSet(artifact="manifest", scope="node")

CONTROLPLANE_PHASE = kubeadm_source("phases/controlplane/manifests.go")
STATICPOD_UTILS = kubeadm_source("util/staticpod/utils.go")
# The priority of system-node-critical, which kubeadm also sets literally.
SYSTEM_NODE_CRITICAL = 2000001000


@dataclass(frozen=True)
class StaticPod:
    component: str
    path: str
    pod: dict[str, Any]

    @property
    def spec(self) -> dict[str, Any]:
        return self.pod.get("spec") or {}

    @property
    def container(self) -> dict[str, Any]:
        containers = self.spec.get("containers") or [{}]
        return containers[0]

    @property
    def command(self) -> list[str]:
        return [str(part) for part in self.container.get("command") or []]


def read_static_pod(node: NodeArtifacts, component: str) -> StaticPod | None:
    entry = node.get(manifest_path(component))
    if entry is None:
        return None
    pod = load_yaml_mapping(entry.text)
    if pod.get("kind") != "Pod" or not (pod.get("spec") or {}).get("containers"):
        raise ValueError(f"not a Pod with containers (kind {pod.get('kind')!r})")
    return StaticPod(component, entry.path, pod)


def _pods(node: NodeArtifacts, context: CheckContext) -> Iterator[StaticPod]:
    """The control plane's manifests that exist and parse; `manifests.set` reports others."""
    if not context.is_control_plane:
        return
    for component in CONTROL_PLANE_COMPONENTS:
        try:
            pod = read_static_pod(node, component)
        except ValueError:
            continue
        if pod is not None:
            yield pod


@RULES.rule(id="manifests.set", source=CONTROLPLANE_PHASE)
def manifest_set(node: NodeArtifacts, context: CheckContext) -> Iterator[Violation]:
    """A control plane has the four static pod manifests (etcd, kube-apiserver,
    kube-controller-manager, kube-scheduler) as Pods; a worker has none"""
    if not context.is_control_plane:
        for entry in node.under(MANIFESTS_DIR):
            if not entry.is_dir:
                yield Violation(entry.path, "no static pods on a worker", "a manifest")
        return
    for component in CONTROL_PLANE_COMPONENTS:
        path = manifest_path(component)
        try:
            pod = read_static_pod(node, component)
        except ValueError as error:
            yield Violation(path, f"the {component} static Pod", f"unparseable: {error}")
            continue
        if pod is None:
            yield Violation(path, f"the {component} static Pod", "no such file")


@RULES.rule(id="manifests.metadata", source=STATICPOD_UTILS)
def metadata(node: NodeArtifacts, context: CheckContext) -> Iterator[Violation]:
    """Each static pod is kube-system/<component> with labels component=<component> and
    tier=control-plane"""
    for pod in _pods(node, context):
        meta = pod.pod.get("metadata") or {}
        labels = meta.get("labels") or {}
        expected = ("kube-system", pod.component, pod.component, CONTROL_PLANE)
        found = (meta.get("namespace"), meta.get("name"), labels.get("component"),
                 labels.get("tier"))  # fmt: skip
        if found != expected:
            yield Violation(pod.path, _describe_metadata(*expected), _describe_metadata(*found))


def _describe_metadata(namespace: object, name: object, component: object, tier: object) -> str:
    return f"{namespace}/{name} labels component={component},tier={tier}"


@RULES.rule(id="manifests.host-network", source=STATICPOD_UTILS)
def host_network(node: NodeArtifacts, context: CheckContext) -> Iterator[Violation]:
    """Each static pod runs in the host network namespace (hostNetwork: true)"""
    for pod in _pods(node, context):
        if pod.spec.get("hostNetwork") is not True:
            yield Violation(
                pod.path, "hostNetwork: true", f"hostNetwork: {pod.spec.get('hostNetwork')}"
            )


@RULES.rule(id="manifests.priority", source=STATICPOD_UTILS)
def priority(node: NodeArtifacts, context: CheckContext) -> Iterator[Violation]:
    """Each static pod has priorityClassName system-node-critical"""
    expected = ("system-node-critical", SYSTEM_NODE_CRITICAL)
    for pod in _pods(node, context):
        found = (pod.spec.get("priorityClassName"), pod.spec.get("priority"))
        if found != expected:
            yield Violation(pod.path, _describe_priority(*expected), _describe_priority(*found))


def _describe_priority(class_name: object, priority: object) -> str:
    return f"priorityClassName {class_name}, priority {priority}"


@RULES.rule(id="manifests.seccomp", source=STATICPOD_UTILS)
def seccomp(node: NodeArtifacts, context: CheckContext) -> Iterator[Violation]:
    """Each static pod uses the RuntimeDefault seccomp profile"""
    for pod in _pods(node, context):
        profile = (pod.spec.get("securityContext") or {}).get("seccompProfile") or {}
        if profile.get("type") != "RuntimeDefault":
            yield Violation(
                pod.path, "securityContext.seccompProfile.type RuntimeDefault", str(profile or None)
            )


@RULES.rule(id="manifests.image", source=kubeadm_source("images/images.go"))
def image(node: NodeArtifacts, context: CheckContext) -> Iterator[Violation]:
    """Each static pod runs the image `kubeadm config images list` names for it"""
    for pod in _pods(node, context):
        expected = context.images[pod.component]
        found = pod.container.get("image")
        if found != expected:
            yield Violation(pod.path, f"image {expected}", str(found))


@RULES.rule(id="manifests.pull-policy", source=CONTROLPLANE_PHASE)
def pull_policy(node: NodeArtifacts, context: CheckContext) -> Iterator[Violation]:
    """Each static pod's container has imagePullPolicy IfNotPresent"""
    for pod in _pods(node, context):
        found = pod.container.get("imagePullPolicy")
        if found != "IfNotPresent":
            yield Violation(pod.path, "imagePullPolicy IfNotPresent", str(found))


@RULES.rule(id="manifests.flags", source=CONTROLPLANE_PHASE)
def flags(node: NodeArtifacts, context: CheckContext) -> Iterator[Violation]:
    """Each static pod runs its binary with the flags kubeadm renders for this node
    (certificates, kubeconfigs, addresses, subnets, Node,RBAC, NodeRestriction, ...)"""
    for pod in _pods(node, context):
        command = pod.command
        if not command or command[0] != pod.component:
            yield Violation(pod.path, f"command {pod.component}", command[0] if command else "none")
            continue
        found = parse_flags(command[1:])
        for name, value in required_flags(pod.component, context).items():
            if found.get(name) != value:
                shown = f"--{name}={found[name]}" if name in found else f"no --{name}"
                yield Violation(pod.path, f"--{name}={value}", shown)


@RULES.rule(id="manifests.extra-args", source=kubeadm_source("util/arguments.go"))
def extra_args(node: NodeArtifacts, context: CheckContext) -> Iterator[Violation]:
    """Every apiServer.extraArgs entry of the kubeadm config is in the apiserver's command"""
    for pod in _pods(node, context):
        if pod.component != "kube-apiserver":
            continue
        for name, value in context.apiserver_extra_args:
            if f"--{name}={value}" not in pod.command:
                found = parse_flags(pod.command[1:]).get(name)
                shown = f"--{name}={found}" if found is not None else f"no --{name}"
                yield Violation(pod.path, f"--{name}={value} (extraArgs)", shown)


def expected_probes(component: str, context: CheckContext) -> tuple[str, str, int, dict[str, str]]:
    """(host, scheme, port, probe kind -> path) kubeadm gives a component's probes."""
    if component == "kube-apiserver":
        paths = {"livenessProbe": "/livez", "readinessProbe": "/readyz", "startupProbe": "/livez"}
        return context.advertise_address, "HTTPS", context.bind_port, paths
    if component == "kube-controller-manager":
        paths = {"livenessProbe": "/healthz", "startupProbe": "/healthz"}
        return "127.0.0.1", "HTTPS", 10257, paths
    if component == "kube-scheduler":
        paths = {"livenessProbe": "/livez", "readinessProbe": "/readyz", "startupProbe": "/livez"}
        return "127.0.0.1", "HTTPS", 10259, paths
    paths = {"livenessProbe": "/livez", "readinessProbe": "/readyz", "startupProbe": "/readyz"}
    return context.loopback, "HTTP", ETCD_METRICS_PORT, paths


@RULES.rule(id="manifests.probes", source=STATICPOD_UTILS)
def probes(node: NodeArtifacts, context: CheckContext) -> Iterator[Violation]:
    """Each static pod probes its health endpoints (/livez, /readyz, /healthz) on the named port
    probe-port, at the host, scheme and port kubeadm sets"""
    for pod in _pods(node, context):
        host, scheme, port, paths = expected_probes(pod.component, context)
        ports = {p.get("name"): p.get("containerPort") for p in pod.container.get("ports") or []}
        if ports.get("probe-port") != port:
            yield Violation(pod.path, f"containerPort probe-port {port}", str(ports or "no ports"))
        for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
            path = paths.get(kind)
            expected = f"httpGet {scheme} {host} {path} probe-port" if path else "none"
            found = _describe_probe(pod.container.get(kind))
            if found != expected:
                yield Violation(pod.path, f"{kind} {expected}", found)


def _describe_probe(probe: dict[str, Any] | None) -> str:
    if not probe:
        return "none"
    get = probe.get("httpGet")
    if not get:
        return "a probe without httpGet"
    return f"httpGet {get.get('scheme')} {get.get('host')} {get.get('path')} {get.get('port')}"
