"""A two-node cluster's objects after `kubeadm init` + `join` (v1.34), as the API returns them.

Objects are plain dicts in the API's JSON shape (what `sanitize_for_serialization` yields),
gathered in a mutable `ClusterObjects` to break before freezing into a `ClusterSnapshot`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from kubeadm_like_manifests import KUBELET_CONFIG
from kubeadm_like_pki import API_URL, CONTROL_PLANE, IMAGES, WORKER, b64, cert_pem
from kubeadm_output import cluster_configuration

from labkit.checks import ClusterContext, ClusterSnapshot

TOKEN_ID = "abcdef"
TOKEN_SECRET = "0123456789abcdef"
BOOTSTRAP_GROUP = "system:bootstrappers:kubeadm:default-node-token"
CP_LABEL = "node-role.kubernetes.io/control-plane"
LB_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers"

Object = dict[str, Any]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def detached_jws(payload: str, token_id: str, secret: str) -> str:
    """What the bootstrap signer (go-jose, HS256, kid = token id) writes, payload dropped."""
    header = _b64url(json.dumps({"alg": "HS256", "kid": token_id}, separators=(",", ":")).encode())
    signing_input = f"{header}.{_b64url(payload.encode())}".encode()
    signature = hmac.new(secret.encode(), signing_input, hashlib.sha256).digest()
    return f"{header}..{_b64url(signature)}"


def spki_sha256(cert: x509.Certificate) -> str:
    der = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "sha256:" + hashlib.sha256(der).hexdigest()


def cluster_context(ca: x509.Certificate, **changes: Any) -> ClusterContext:
    fields_: dict[str, Any] = {
        "control_planes": (CONTROL_PLANE,), "workers": (WORKER,), "images": dict(IMAGES),
        "api_server_url": API_URL, "ca_cert_pem": cert_pem(ca),
        "discovery_token_ca_cert_hash": spki_sha256(ca),
    }  # fmt: skip
    return ClusterContext(**(fields_ | changes))


def meta(name: str, namespace: str | None = None, **extra: Any) -> Object:
    body: Object = {"name": name, **extra}
    if namespace:
        body["namespace"] = namespace
    return body


def _time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def node(name: str, control_plane: bool) -> Object:
    labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}
    spec: Object = {"podCIDR": "10.244.0.0/24"}
    if control_plane:
        labels |= {CP_LABEL: "", LB_LABEL: ""}
        spec["taints"] = [{"effect": "NoSchedule", "key": CP_LABEL}]
    ready = {"type": "Ready", "status": "True", "reason": "KubeletReady",
             "message": "kubelet is posting ready status"}  # fmt: skip
    # What kind v0.30's nodes ran with v1.34: inside containerd's support matrix.
    info = {"kubeletVersion": "v1.34.4", "containerRuntimeVersion": "containerd://2.1.4"}
    return {"metadata": meta(name, labels=labels), "spec": spec,
            "status": {"conditions": [ready], "nodeInfo": info}}  # fmt: skip


def pod(name: str, node_name: str, labels: dict[str, str]) -> Object:
    conditions = [{"type": "Ready", "status": "True"}]
    return {"metadata": meta(name, "kube-system", labels=labels),
            "spec": {"nodeName": node_name},
            "status": {"phase": "Running", "conditions": conditions}}  # fmt: skip


def binding(name: str, role_kind: str, role: str, subjects: list[Object],
            namespace: str | None = None) -> Object:  # fmt: skip
    ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role}
    return {"metadata": meta(name, namespace), "roleRef": ref, "subjects": subjects}


def group(name: str) -> Object:
    return {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": name}


def service_account(name: str) -> Object:
    return {"kind": "ServiceAccount", "name": name, "namespace": "kube-system"}


def cluster_info_kubeconfig(ca: x509.Certificate) -> str:
    # clientcmd.Write of a Config whose only cluster has an empty name.
    return (
        "apiVersion: v1\nclusters:\n- cluster:\n"
        f"    certificate-authority-data: {b64(cert_pem(ca))}\n"
        f"    server: {API_URL}\n"
        '  name: ""\ncontexts: null\ncurrent-context: ""\nkind: Config\n'
        "preferences: {}\nusers: null\n"
    )


CLUSTER_CONFIGURATION = cluster_configuration("v1.34.4", podSubnet="10.244.0.0/16")


@dataclass
class ClusterObjects:
    nodes: list[Object] = field(default_factory=list)
    pods: list[Object] = field(default_factory=list)
    config_maps: list[Object] = field(default_factory=list)
    secrets: list[Object] = field(default_factory=list)
    services: list[Object] = field(default_factory=list)
    deployments: list[Object] = field(default_factory=list)
    daemon_sets: list[Object] = field(default_factory=list)
    cluster_role_bindings: list[Object] = field(default_factory=list)
    role_bindings: list[Object] = field(default_factory=list)
    taken_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def find(self, kind: str, name: str, namespace: str | None = None) -> Object:
        for obj in getattr(self, kind):
            if obj["metadata"]["name"] == name and obj["metadata"].get("namespace") == namespace:
                return obj
        raise KeyError(f"{kind} {namespace}/{name}")

    def remove(self, kind: str, name: str, namespace: str | None = None) -> None:
        getattr(self, kind).remove(self.find(kind, name, namespace))

    def snapshot(self) -> ClusterSnapshot:
        lists = {f.name: tuple(getattr(self, f.name)) for f in fields(self) if f.name != "taken_at"}
        return ClusterSnapshot(**lists, taken_at=self.taken_at)


def token_secret(taken_at: datetime, **overrides: str) -> Object:
    data = {
        "auth-extra-groups": BOOTSTRAP_GROUP,
        "description": "The default bootstrap token generated by 'kubeadm init'.",
        "expiration": _time(taken_at + timedelta(hours=23)),
        "token-id": TOKEN_ID,
        "token-secret": TOKEN_SECRET,
        "usage-bootstrap-authentication": "true",
        "usage-bootstrap-signing": "true",
    } | overrides
    created = _time(taken_at - timedelta(hours=1))
    return {
        "metadata": meta(f"bootstrap-token-{data['token-id']}", "kube-system",
                         creationTimestamp=created),
        "type": "bootstrap.kubernetes.io/token",
        "data": {key: b64(value.encode()) for key, value in data.items()},
    }  # fmt: skip


def good_cluster(ca: x509.Certificate) -> ClusterObjects:
    objects = ClusterObjects()
    objects.nodes = [node(CONTROL_PLANE, True), node(WORKER, False)]
    objects.pods = [
        pod("coredns-66bc5c9577-7xk2p", CONTROL_PLANE, {"k8s-app": "kube-dns"}),
        pod("coredns-66bc5c9577-q9wz4", WORKER, {"k8s-app": "kube-dns"}),
        pod("kube-proxy-4fxlm", CONTROL_PLANE, {"k8s-app": "kube-proxy"}),
        pod("kube-proxy-t7r2d", WORKER, {"k8s-app": "kube-proxy"}),
        pod(f"etcd-{CONTROL_PLANE}", CONTROL_PLANE, {"component": "etcd", "tier": "control-plane"}),
    ]
    kubeconfig = cluster_info_kubeconfig(ca)
    objects.config_maps = [
        {"metadata": meta("cluster-info", "kube-public"),
         "data": {"kubeconfig": kubeconfig,
                  f"jws-kubeconfig-{TOKEN_ID}": detached_jws(kubeconfig, TOKEN_ID, TOKEN_SECRET)}},
        {"metadata": meta("kubeadm-config", "kube-system"),
         "data": {"ClusterConfiguration": CLUSTER_CONFIGURATION}},
        {"metadata": meta("kubelet-config", "kube-system"), "data": {"kubelet": KUBELET_CONFIG}},
        {"metadata": meta("kube-proxy", "kube-system"),
         "data": {"config.conf": "apiVersion: kubeproxy.config.k8s.io/v1alpha1\n"
                                 "kind: KubeProxyConfiguration\nmode: \"\"\n",
                  "kubeconfig.conf": "apiVersion: v1\nkind: Config\n"}},
    ]  # fmt: skip
    objects.secrets = [token_secret(objects.taken_at)]
    objects.services = [{
        "metadata": meta("kube-dns", "kube-system", labels={"k8s-app": "kube-dns"}),
        "spec": {"clusterIP": "10.96.0.10", "selector": {"k8s-app": "kube-dns"},
                 "ports": [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                           {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                           {"name": "metrics", "port": 9153, "protocol": "TCP",
                            "targetPort": 9153}]},
    }]  # fmt: skip
    objects.deployments = [{
        "metadata": meta("coredns", "kube-system", labels={"k8s-app": "kube-dns"}),
        "spec": {"replicas": 2, "selector": {"matchLabels": {"k8s-app": "kube-dns"}},
                 "template": {"spec": {"containers": [
                     {"name": "coredns", "image": IMAGES["coredns"]}]}}},
    }]  # fmt: skip
    objects.daemon_sets = [{
        "metadata": meta("kube-proxy", "kube-system", labels={"k8s-app": "kube-proxy"}),
        "spec": {"selector": {"matchLabels": {"k8s-app": "kube-proxy"}},
                 "template": {"spec": {"hostNetwork": True, "containers": [
                     {"name": "kube-proxy", "image": IMAGES["kube-proxy"],
                      "securityContext": {"privileged": True}}]}}},
    }]  # fmt: skip
    csr = "system:certificates.k8s.io:certificatesigningrequests"
    objects.cluster_role_bindings = [
        binding("cluster-admin", "ClusterRole", "cluster-admin", [group("system:masters")]),
        binding("kubeadm:kubelet-bootstrap", "ClusterRole", "system:node-bootstrapper",
                [group(BOOTSTRAP_GROUP)]),
        binding("kubeadm:node-autoapprove-bootstrap", "ClusterRole", f"{csr}:nodeclient",
                [group(BOOTSTRAP_GROUP)]),
        binding("kubeadm:node-autoapprove-certificate-rotation", "ClusterRole",
                f"{csr}:selfnodeclient", [group("system:nodes")]),
        binding("kubeadm:get-nodes", "ClusterRole", "kubeadm:get-nodes", [group(BOOTSTRAP_GROUP)]),
        binding("kubeadm:cluster-admins", "ClusterRole", "cluster-admin",
                [group("kubeadm:cluster-admins")]),
        binding("kubeadm:node-proxier", "ClusterRole", "system:node-proxier",
                [service_account("kube-proxy")]),
        binding("system:coredns", "ClusterRole", "system:coredns", [service_account("coredns")]),
    ]  # fmt: skip
    readers = [group(BOOTSTRAP_GROUP), group("system:nodes")]
    objects.role_bindings = [
        binding("kubeadm:bootstrap-signer-clusterinfo", "Role",
                "kubeadm:bootstrap-signer-clusterinfo",
                [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                  "name": "system:anonymous"}], "kube-public"),
        binding("kubeadm:nodes-kubeadm-config", "Role", "kubeadm:nodes-kubeadm-config", readers,
                "kube-system"),
        binding("kubeadm:kubelet-config", "Role", "kubeadm:kubelet-config", readers,
                "kube-system"),
    ]  # fmt: skip
    return objects
