"""Nodes as `kubeadm init` (v1.34) and `kubeadm join` leave them, for the node rules' tests.

`control_plane_node(pki)` is the first control plane after a successful init (kubelet
finalized), `worker_node(pki)` a joined worker; each is a fresh `NodeFiles` to break, packed
as the `tar` that `read_node_artifacts` receives. The expensive part, the PKI, is shared.
"""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives import serialization
from kubeadm_like_manifests import INSTANCE_CONFIG, KUBELET_CONFIG, flags_env, manifests
from kubeadm_like_pki import (
    API_URL,
    CONTROL_PLANE,
    CONTROL_PLANE_ADDRESS,
    CRI_SOCKET,
    IMAGES,
    KUBELET_PEM,
    ROTATING_USER,
    WORKER,
    WORKER_ADDRESS,
    NodeFiles,
    Pki,
    cert_pem,
    embedded_user,
    key_pem,
    kubeconfig,
)

from labkit.checks import CheckContext

K8S = "/etc/kubernetes"
PKI = f"{K8S}/pki"
PASSWD = "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
GROUP = "root:x:0:\ndaemon:x:1:\n"
# Where a hardened node's etcd user lives (kubeadm itself runs etcd as root).
ETCD_UID = 999


def control_plane_context(algorithm: str = "RSA-2048", **changes: Any) -> CheckContext:
    fields: dict[str, Any] = {
        "node": CONTROL_PLANE, "role": "control-plane", "advertise_address": CONTROL_PLANE_ADDRESS,
        "kubernetes_minor": 34, "images": dict(IMAGES), "encryption_algorithm": algorithm,
        "pod_subnet": "10.244.0.0/16", "cri_socket": CRI_SOCKET,
    }  # fmt: skip
    return CheckContext(**(fields | changes))


def worker_context(algorithm: str = "RSA-2048", **changes: Any) -> CheckContext:
    fields: dict[str, Any] = {
        "node": WORKER, "role": "worker", "advertise_address": WORKER_ADDRESS,
        "kubernetes_minor": 34, "images": dict(IMAGES), "encryption_algorithm": algorithm,
        "control_plane_endpoint": f"{CONTROL_PLANE_ADDRESS}:6443", "cri_socket": CRI_SOCKET,
    }  # fmt: skip
    return CheckContext(**(fields | changes))


def _base(node: str, role: str, address: str, pki: Pki) -> NodeFiles:
    files = NodeFiles(node, role, {}, pki)
    for directory in (K8S, PKI, "/var/lib/kubelet/pki"):
        files.mkdir(directory)
    # The kubelet package (and labkit's node image) ship the directory 0755; kubeadm's
    # WriteStaticPodToDisk would make it 0700 only if it were missing. Seen on a v1.34.4 lab.
    files.mkdir(f"{K8S}/manifests", 0o755)
    files.put("/etc/passwd", PASSWD, 0o644)
    files.put("/etc/group", GROUP, 0o644)
    files.put(f"{PKI}/ca.crt", cert_pem(pki.certs["ca"]), 0o644)
    # kubeadm's writeConfigBytesToDisk and writeKubeletFlagBytesToDisk: 0644.
    files.put("/var/lib/kubelet/config.yaml", KUBELET_CONFIG, 0o644)
    files.put("/var/lib/kubelet/instance-config.yaml", INSTANCE_CONFIG, 0o644)
    files.put("/var/lib/kubelet/kubeadm-flags.env", flags_env(address, IMAGES["pause"]), 0o644)
    client = f"kubelet-client:{node}"
    files.put(KUBELET_PEM, cert_pem(pki.certs[client]) + key_pem(pki.keys[client]), 0o600)
    serving = f"kubelet-serving:{node}"
    files.put("/var/lib/kubelet/pki/kubelet.crt", cert_pem(pki.certs[serving]), 0o644)
    files.put("/var/lib/kubelet/pki/kubelet.key", key_pem(pki.keys[serving]), 0o600)
    return files


def control_plane_node(pki: Pki, apiserver_extra: tuple[str, ...] = ()) -> NodeFiles:
    """The first control plane after `kubeadm init`, kubelet-finalize included."""
    files = _base(CONTROL_PLANE, "control-plane", CONTROL_PLANE_ADDRESS, pki)
    files.mkdir(f"{PKI}/etcd")
    files.mkdir("/var/lib/etcd", 0o700)
    for name in ("ca", "front-proxy-ca", "etcd/ca", "apiserver", "apiserver-kubelet-client",
                 "front-proxy-client", "etcd/server", "etcd/peer", "etcd/healthcheck-client",
                 "apiserver-etcd-client"):  # fmt: skip
        files.put_cert(name, pki.certs[name])
        files.put_key(name, pki.keys[name])
    sa = pki.keys["sa"]
    files.put(f"{PKI}/sa.key", key_pem(sa), 0o600)
    files.put(f"{PKI}/sa.pub", _public_pem(sa), 0o600)
    ca = pki.certs["ca"]
    for file in ("admin.conf", "super-admin.conf", "controller-manager.conf", "scheduler.conf"):
        user = _user(file)
        text = kubeconfig(API_URL, ca, _names(user), embedded_user(pki, file))
        files.put(f"{K8S}/{file}", text, 0o600)
    user = f"system:node:{CONTROL_PLANE}"
    files.put(f"{K8S}/kubelet.conf", kubeconfig(API_URL, ca, _names(user), ROTATING_USER), 0o600)
    texts = manifests(CONTROL_PLANE, CONTROL_PLANE_ADDRESS, IMAGES, apiserver_extra)
    for component, text in texts.items():
        files.put(f"{K8S}/manifests/{component}.yaml", text, 0o600)
    return files


def worker_node(pki: Pki) -> NodeFiles:
    """A worker after `kubeadm join`: the kubelet bootstrapped its own kubelet.conf."""
    files = _base(WORKER, "worker", WORKER_ADDRESS, pki)
    names = ("default-cluster", "default-context", "default-auth")
    text = kubeconfig(API_URL, pki.certs["ca"], names, ROTATING_USER, namespace="default")
    files.put(f"{K8S}/kubelet.conf", text, 0o600)
    return files


def _user(file: str) -> str:
    return {
        "admin.conf": "kubernetes-admin",
        "super-admin.conf": "kubernetes-super-admin",
        "controller-manager.conf": "system:kube-controller-manager",
        "scheduler.conf": "system:kube-scheduler",
    }[file]


def _names(user: str) -> tuple[str, str, str]:
    return "kubernetes", f"{user}@kubernetes", user


def _public_pem(key: Any) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
