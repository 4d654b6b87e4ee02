"""The two addons `kubeadm init` installs: CoreDNS (Deployment coredns, Service kube-dns) and
kube-proxy (DaemonSet and ConfigMap)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from labkit.checks.context import ClusterContext, nth_ip
from labkit.checks.findings import RuleSet, Violation, kubeadm_source
from labkit.checks.snapshot import (
    KUBE_SYSTEM,
    ClusterSnapshot,
    Object,
    labels_of,
    object_path,
)
from labkit.kubeadm.config import COREDNS_REPLICAS

RULES = RuleSet(artifact="addons", scope="cluster")

DNS_ADDON = kubeadm_source("phases/addons/dns/manifests.go")
PROXY_ADDON = kubeadm_source("phases/addons/proxy/manifests.go")
KUBE_DNS = {"k8s-app": "kube-dns"}
KUBE_PROXY = {"k8s-app": "kube-proxy"}
COREDNS = object_path(KUBE_SYSTEM, "Deployment", "coredns")
KUBE_DNS_SERVICE = object_path(KUBE_SYSTEM, "Service", "kube-dns")
KUBE_PROXY_DAEMONSET = object_path(KUBE_SYSTEM, "DaemonSet", "kube-proxy")


def _pod_spec(workload: Object) -> Object:
    return ((workload.get("spec") or {}).get("template") or {}).get("spec") or {}


def _container(workload: Object, name: str) -> Object:
    for container in _pod_spec(workload).get("containers") or []:
        if container.get("name") == name:
            return container
    return {}


def pods_with(snapshot: ClusterSnapshot, labels: dict[str, str]) -> list[Object]:
    return [
        pod
        for pod in snapshot.pods
        if labels.items() <= labels_of(pod).items()
        and (pod.get("metadata") or {}).get("namespace") == KUBE_SYSTEM
    ]


@RULES.rule(id="addons.coredns-deployment", source=DNS_ADDON)
def coredns_deployment(snapshot: ClusterSnapshot, context: ClusterContext) -> Iterator[Violation]:
    """kube-system/coredns is a Deployment of 2 replicas selecting k8s-app=kube-dns"""
    deployment = snapshot.find("deployments", KUBE_SYSTEM, "coredns")
    if deployment is None:
        yield Violation(COREDNS, "the CoreDNS Deployment", "none")
        return
    spec = deployment.get("spec") or {}
    if spec.get("replicas") != COREDNS_REPLICAS:
        yield Violation(COREDNS, f"replicas {COREDNS_REPLICAS}", f"replicas {spec.get('replicas')}")
    selector = (spec.get("selector") or {}).get("matchLabels") or {}
    if selector != KUBE_DNS:
        yield Violation(COREDNS, f"selector {KUBE_DNS}", f"selector {selector}")


@dataclass(frozen=True)
class AddonImage:
    """An addon's workload runs the image `kubeadm config images list` names for it; the
    workload, its container and the image are all called `name`."""

    rule_id: str
    shown: str
    kind: str  # the ClusterSnapshot field holding the workload
    name: str
    path: str
    source: str = kubeadm_source("images/images.go")
    known: bool = False

    @property
    def statement(self) -> str:
        return f"{self.shown} runs the image `kubeadm config images list` names"

    def check(self, snapshot: ClusterSnapshot, context: ClusterContext) -> Iterator[Violation]:
        workload = snapshot.find(self.kind, KUBE_SYSTEM, self.name)
        expected = context.images.get(self.name)
        if workload is None or expected is None:
            return
        found = _container(workload, self.name).get("image")
        if found != expected:
            yield Violation(self.path, f"image {expected}", str(found))


RULES.add_rows([AddonImage("addons.coredns-image", "CoreDNS", "deployments", "coredns", COREDNS)])


@RULES.rule(id="addons.kube-dns-service", source=DNS_ADDON)
def kube_dns_service(snapshot: ClusterSnapshot, context: ClusterContext) -> Iterator[Violation]:
    """kube-system/kube-dns is at the 10th IP of the service subnet, with ports 53/UDP, 53/TCP
    and 9153/TCP, selecting k8s-app=kube-dns"""
    service = snapshot.find("services", KUBE_SYSTEM, "kube-dns")
    if service is None:
        yield Violation(KUBE_DNS_SERVICE, "the kube-dns Service", "none")
        return
    spec = service.get("spec") or {}
    expected_ip = nth_ip(context.service_subnet, 10)
    if spec.get("clusterIP") != expected_ip:
        yield Violation(
            KUBE_DNS_SERVICE, f"clusterIP {expected_ip}", f"clusterIP {spec.get('clusterIP')}"
        )
    ports = sorted((p.get("port"), p.get("protocol", "TCP")) for p in spec.get("ports") or [])
    expected_ports = [(53, "TCP"), (53, "UDP"), (9153, "TCP")]
    if ports != expected_ports:
        yield Violation(KUBE_DNS_SERVICE, f"ports {expected_ports}", f"ports {ports}")
    if (spec.get("selector") or {}) != KUBE_DNS:
        yield Violation(
            KUBE_DNS_SERVICE, f"selector {KUBE_DNS}", f"selector {spec.get('selector')}"
        )


@RULES.rule(id="addons.kube-proxy-daemonset", source=PROXY_ADDON)
def kube_proxy_daemonset(snapshot: ClusterSnapshot, context: ClusterContext) -> Iterator[Violation]:
    """kube-system/kube-proxy is a DaemonSet on the host network with a privileged container,
    configured by the kube-proxy ConfigMap (config.conf)"""
    daemon_set = snapshot.find("daemon_sets", KUBE_SYSTEM, "kube-proxy")
    if daemon_set is None:
        yield Violation(KUBE_PROXY_DAEMONSET, "the kube-proxy DaemonSet", "none")
    else:
        if _pod_spec(daemon_set).get("hostNetwork") is not True:
            yield Violation(KUBE_PROXY_DAEMONSET, "hostNetwork: true", "not on the host network")
        security = _container(daemon_set, "kube-proxy").get("securityContext") or {}
        if security.get("privileged") is not True:
            yield Violation(
                KUBE_PROXY_DAEMONSET, "a privileged kube-proxy container", str(security)
            )
    config_map = snapshot.find("config_maps", KUBE_SYSTEM, "kube-proxy")
    if config_map is None or "config.conf" not in (config_map.get("data") or {}):
        path = object_path(KUBE_SYSTEM, "ConfigMap", "kube-proxy")
        yield Violation(
            path, "data.config.conf", "none" if config_map is None else "no config.conf"
        )


RULES.add_rows(
    [AddonImage("addons.kube-proxy-image", "kube-proxy", "daemon_sets", "kube-proxy",
                KUBE_PROXY_DAEMONSET)]
)  # fmt: skip


@RULES.rule(id="addons.kube-proxy-everywhere", source=PROXY_ADDON)
def kube_proxy_everywhere(
    snapshot: ClusterSnapshot, context: ClusterContext
) -> Iterator[Violation]:
    """A kube-proxy pod is scheduled on every node"""
    scheduled = {(pod.get("spec") or {}).get("nodeName") for pod in pods_with(snapshot, KUBE_PROXY)}
    for node in context.nodes:
        if node not in scheduled:
            yield Violation(f"Node/{node}", "a kube-proxy pod on the node", "none", node=node)
