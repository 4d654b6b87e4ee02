"""The command-line flags kubeadm renders into each static pod, for a given node.

Read from kubeadm's controlplane phase (getAPIServerCommand, getControllerManagerCommand,
getSchedulerCommand) and etcd phase (getEtcdCommand). kubeadm sorts its defaults, lets an
extraArg replace the default of the same name, and renders each as `--name=value`.
"""

from __future__ import annotations

import re

from labkit.checks.context import CheckContext, url
from labkit.constants import (
    CONTROLLER_MANAGER_CONF,
    ETCD_CLIENT_PORT,
    ETCD_METRICS_PORT,
    ETCD_PEER_PORT,
    PKI_DIR,
    SCHEDULER_CONF,
)
from labkit.kubeadm.images import image_tag


def apiserver_flags(context: CheckContext) -> dict[str, str]:
    flags = {
        "advertise-address": context.advertise_address,
        "allow-privileged": "true",
        "authorization-mode": "Node,RBAC",
        "client-ca-file": f"{PKI_DIR}/ca.crt",
        "enable-admission-plugins": "NodeRestriction",
        "enable-bootstrap-token-auth": "true",
        "etcd-cafile": f"{PKI_DIR}/etcd/ca.crt",
        "etcd-certfile": f"{PKI_DIR}/apiserver-etcd-client.crt",
        "etcd-keyfile": f"{PKI_DIR}/apiserver-etcd-client.key",
        "etcd-servers": url("https", context.loopback, ETCD_CLIENT_PORT),
        "kubelet-client-certificate": f"{PKI_DIR}/apiserver-kubelet-client.crt",
        "kubelet-client-key": f"{PKI_DIR}/apiserver-kubelet-client.key",
        "kubelet-preferred-address-types": "InternalIP,ExternalIP,Hostname",
        "proxy-client-cert-file": f"{PKI_DIR}/front-proxy-client.crt",
        "proxy-client-key-file": f"{PKI_DIR}/front-proxy-client.key",
        "requestheader-allowed-names": "front-proxy-client",
        "requestheader-client-ca-file": f"{PKI_DIR}/front-proxy-ca.crt",
        "requestheader-extra-headers-prefix": "X-Remote-Extra-",
        "requestheader-group-headers": "X-Remote-Group",
        "requestheader-username-headers": "X-Remote-User",
        "secure-port": str(context.bind_port),
        "service-account-issuer": f"https://kubernetes.default.svc.{context.dns_domain}",
        "service-account-key-file": f"{PKI_DIR}/sa.pub",
        "service-account-signing-key-file": f"{PKI_DIR}/sa.key",
        "service-cluster-ip-range": context.service_subnet,
        "tls-cert-file": f"{PKI_DIR}/apiserver.crt",
        "tls-private-key-file": f"{PKI_DIR}/apiserver.key",
    }
    extra = {name for name, _ in context.apiserver_extra_args}
    # A structured authorization config replaces the authorization-mode kubeadm would set.
    if "authorization-config" in extra:
        del flags["authorization-mode"]
    # extraArgs replace defaults of the same name; `manifests.extra-args` checks those.
    return {name: value for name, value in flags.items() if name not in extra}


def controller_manager_flags(context: CheckContext) -> dict[str, str]:
    kubeconfig = CONTROLLER_MANAGER_CONF
    flags = {
        "authentication-kubeconfig": kubeconfig,
        "authorization-kubeconfig": kubeconfig,
        "bind-address": "127.0.0.1",
        "client-ca-file": f"{PKI_DIR}/ca.crt",
        "cluster-name": context.cluster_name,
        "cluster-signing-cert-file": f"{PKI_DIR}/ca.crt",
        "cluster-signing-key-file": f"{PKI_DIR}/ca.key",
        "controllers": "*,bootstrapsigner,tokencleaner",
        "kubeconfig": kubeconfig,
        "leader-elect": "true",
        "requestheader-client-ca-file": f"{PKI_DIR}/front-proxy-ca.crt",
        "root-ca-file": f"{PKI_DIR}/ca.crt",
        "service-account-private-key-file": f"{PKI_DIR}/sa.key",
        "use-service-account-credentials": "true",
    }
    if context.pod_subnet:
        flags["allocate-node-cidrs"] = "true"
        flags["cluster-cidr"] = context.pod_subnet
        flags["service-cluster-ip-range"] = context.service_subnet
    return flags


def scheduler_flags(context: CheckContext) -> dict[str, str]:
    kubeconfig = SCHEDULER_CONF
    return {
        "authentication-kubeconfig": kubeconfig,
        "authorization-kubeconfig": kubeconfig,
        "bind-address": "127.0.0.1",
        "kubeconfig": kubeconfig,
        "leader-elect": "true",
    }


def etcd_version(context: CheckContext) -> tuple[int, int] | None:
    match = re.match(r"v?(\d+)\.(\d+)", image_tag(context.images.get("etcd", "")))
    return (int(match[1]), int(match[2])) if match else None


def etcd_flags(context: CheckContext) -> dict[str, str]:
    address = context.advertise_address
    client_url = url("https", address, ETCD_CLIENT_PORT)
    peer_url = url("https", address, ETCD_PEER_PORT)
    flags = {
        "advertise-client-urls": client_url,
        "cert-file": f"{PKI_DIR}/etcd/server.crt",
        "client-cert-auth": "true",
        "data-dir": "/var/lib/etcd",
        "initial-advertise-peer-urls": peer_url,
        "key-file": f"{PKI_DIR}/etcd/server.key",
        "listen-client-urls": f"{url('https', context.loopback, ETCD_CLIENT_PORT)},{client_url}",
        "listen-metrics-urls": url("http", context.loopback, ETCD_METRICS_PORT),
        "listen-peer-urls": peer_url,
        "name": context.node,
        "peer-cert-file": f"{PKI_DIR}/etcd/peer.crt",
        "peer-client-cert-auth": "true",
        "peer-key-file": f"{PKI_DIR}/etcd/peer.key",
        "peer-trusted-ca-file": f"{PKI_DIR}/etcd/ca.crt",
        "snapshot-count": "10000",
        "trusted-ca-file": f"{PKI_DIR}/etcd/ca.crt",
    }
    # etcd 3.6 dropped the experimental- prefix; kubeadm picks by the etcd image's tag.
    version = etcd_version(context)
    if version is not None and version >= (3, 6):
        flags["feature-gates"] = "InitialCorruptCheck=true"
        flags["watch-progress-notify-interval"] = "5s"
    elif version is not None:
        flags["experimental-initial-corrupt-check"] = "true"
        flags["experimental-watch-progress-notify-interval"] = "5s"
    if context.first_control_plane or context.etcd_upgraded:
        # kubeadm upgrade writes every member's manifest as a first member's: etcd reads
        # the initial cluster only when its data dir is empty.
        flags["initial-cluster"] = f"{context.node}={peer_url}"
    else:
        # A joining member lists the members it found, so only the state is fixed.
        flags["initial-cluster-state"] = "existing"
    return flags


COMPONENT_FLAGS = {
    "etcd": etcd_flags,
    "kube-apiserver": apiserver_flags,
    "kube-controller-manager": controller_manager_flags,
    "kube-scheduler": scheduler_flags,
}


def required_flags(component: str, context: CheckContext) -> dict[str, str]:
    return COMPONENT_FLAGS[component](context)
