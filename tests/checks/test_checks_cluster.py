"""Each cluster rule (objects, addons, node state) fails alone when its invariant is broken."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from breakage import ClusterCase, assert_only_rule_fails, run_cluster_case
from kubeadm_like_cluster import (
    CP_LABEL,
    LB_LABEL,
    TOKEN_ID,
    TOKEN_SECRET,
    ClusterObjects,
    detached_jws,
    token_secret,
)
from kubeadm_like_pki import CONTROL_PLANE, WORKER, Pki, cert_pem

CLUSTER_INFO = "kube-public/ConfigMap/cluster-info"
JWS_KEY = f"jws-kubeconfig-{TOKEN_ID}"
COREDNS = "registry.k8s.io/coredns/coredns"
Mutation = Callable[[ClusterObjects, Pki], None]


def edit(kind: str, name: str, namespace: str | None, change: Callable[[Any], None]) -> Mutation:
    return lambda objects, pki: change(objects.find(kind, name, namespace))


def remove(kind: str, name: str, namespace: str | None = None) -> Mutation:
    return lambda objects, pki: objects.remove(kind, name, namespace)


def cluster_info(change: Callable[[dict[str, str]], None]) -> Mutation:
    return edit("config_maps", "cluster-info", "kube-public", lambda cm: change(cm["data"]))


def _forged_jws(data: dict[str, str]) -> None:
    data[JWS_KEY] = detached_jws(data["kubeconfig"] + "# tampered\n", TOKEN_ID, TOKEN_SECRET)


def _resigned(data: dict[str, str], kubeconfig: str) -> None:
    """A new kubeconfig, signed again as the bootstrap signer would."""
    data["kubeconfig"] = kubeconfig
    data[JWS_KEY] = detached_jws(kubeconfig, TOKEN_ID, TOKEN_SECRET)


def _jws_wrong_secret(data: dict[str, str]) -> None:
    data[JWS_KEY] = detached_jws(data["kubeconfig"], TOKEN_ID, "ffffffffffffffff")


def _token(**overrides: str) -> Mutation:
    def mutate(objects: ClusterObjects, pki: Pki) -> None:
        objects.secrets = [token_secret(objects.taken_at, **overrides)]

    return mutate


def _expired_token(objects: ClusterObjects, pki: Pki) -> None:
    moment = objects.taken_at - timedelta(minutes=1)
    _token(expiration=moment.strftime("%Y-%m-%dT%H:%M:%SZ"))(objects, pki)


KUBEADM_CERTS = "kube-system/Secret/kubeadm-certs"
CERTS_TOKEN_ID = "q7k2xm"


def _certs_token(objects: ClusterObjects, **overrides: str) -> None:
    """The short-lived token `kubeadm init --upload-certs` makes to time kubeadm-certs."""
    moment = objects.taken_at + timedelta(hours=1)
    token = token_secret(
        objects.taken_at,
        **{
            "token-id": CERTS_TOKEN_ID,
            "description": "Proxy for managing TTL for the kubeadm-certs secret",
            "expiration": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
            **overrides,
        },
    )
    for usage in ("auth-extra-groups", "usage-bootstrap-authentication", "usage-bootstrap-signing"):
        token["data"].pop(usage)
    objects.secrets.append(token)


def _kubeadm_certs(objects: ClusterObjects, *, owner: str, drop: str | None = None) -> None:
    keys = ["ca.crt", "ca.key", "front-proxy-ca.crt", "front-proxy-ca.key", "sa.key", "sa.pub",
            "etcd-ca.crt", "etcd-ca.key"]  # fmt: skip
    objects.secrets.append({
        "metadata": {"name": "kubeadm-certs", "namespace": "kube-system",
                     "ownerReferences": [{"kind": "Secret", "name": owner}]},
        "type": "Opaque",
        "data": {key: "ZW5jcnlwdGVk" for key in keys if key != drop},
    })  # fmt: skip


def _certs_without_secret(objects: ClusterObjects, pki: Pki) -> None:
    _certs_token(objects)


def _certs_missing_a_key(objects: ClusterObjects, pki: Pki) -> None:
    _certs_token(objects)
    _kubeadm_certs(objects, owner=f"bootstrap-token-{CERTS_TOKEN_ID}", drop="sa.key")


def _certs_owner_gone(objects: ClusterObjects, pki: Pki) -> None:
    _kubeadm_certs(objects, owner="bootstrap-token-gone00")


def _certs_token_too_long(objects: ClusterObjects, pki: Pki) -> None:
    later = objects.taken_at + timedelta(hours=23)
    _certs_token(objects, expiration=later.strftime("%Y-%m-%dT%H:%M:%SZ"))
    _kubeadm_certs(objects, owner=f"bootstrap-token-{CERTS_TOKEN_ID}")


def _not_ready(node: Any) -> None:
    node["status"]["conditions"] = [{
        "type": "Ready", "status": "False", "reason": "KubeletNotReady",
        "message": "container runtime network not ready: NetworkReady=false "
                   "reason:NetworkPluginNotReady message:Network plugin returns error: "
                   "cni plugin not initialized",
    }]  # fmt: skip


def _drop_subject(binding: Any) -> None:
    binding["subjects"] = []


def _container(workload: Any) -> Any:
    return workload["spec"]["template"]["spec"]["containers"][0]


CASES = [
    ClusterCase("cluster.cluster-info", "no cluster-info", remove("config_maps", "cluster-info",
                "kube-public"), CLUSTER_INFO, "the ConfigMap; found none"),
    ClusterCase("cluster.cluster-info", "another API server", lambda o, p: None, CLUSTER_INFO,
                "server https://10.0.0.1:6443", context={"api_server_url": "https://10.0.0.1:6443"}),
    ClusterCase("cluster.cluster-info", "kubeconfig without clusters",
                cluster_info(lambda d: _resigned(d, "apiVersion: v1\nclusters: []\n")),
                CLUSTER_INFO, "0 clusters, not one"),
    ClusterCase("cluster.discovery-hash", "joins pinned another CA", lambda o, p: None,
                CLUSTER_INFO, "sha256:" + "0" * 64,
                context={"discovery_token_ca_cert_hash": "sha256:" + "0" * 64}),
    ClusterCase("cluster.cluster-info-jws", "bad JWS", cluster_info(_forged_jws), CLUSTER_INFO,
                "does not match"),
    ClusterCase("cluster.cluster-info-jws", "signed with another secret",
                cluster_info(_jws_wrong_secret), CLUSTER_INFO, f"data.{JWS_KEY}: a valid"),
    ClusterCase("cluster.cluster-info-jws", "signature missing",
                cluster_info(lambda d: d.pop(JWS_KEY)), CLUSTER_INFO, "no such key"),
    ClusterCase("cluster.cluster-info-jws", "payload left in",
                cluster_info(lambda d: d.update({JWS_KEY: "eyJhbGciOiJIUzI1NiJ9.e30.c2ln"})),
                CLUSTER_INFO, "header..signature"),
    ClusterCase("cluster.public-bindings", "cluster-info not public",
                edit("role_bindings", "kubeadm:bootstrap-signer-clusterinfo", "kube-public",
                     _drop_subject),
                "kube-public/RoleBinding/kubeadm:bootstrap-signer-clusterinfo", "system:anonymous"),
    ClusterCase("cluster.kubeadm-configmaps", "kubelet-config without its key",
                edit("config_maps", "kubelet-config", "kube-system",
                     lambda cm: cm.update(data={"config": "x"})),
                "kube-system/ConfigMap/kubelet-config", "data.kubelet: a KubeletConfiguration"),
    ClusterCase("cluster.bootstrap-token", "not for authentication",
                _token(**{"usage-bootstrap-authentication": "false"}),
                f"kube-system/Secret/bootstrap-token-{TOKEN_ID}", "usage-bootstrap-authentication"),
    ClusterCase("cluster.bootstrap-token", "expired", _expired_token,
                f"kube-system/Secret/bootstrap-token-{TOKEN_ID}", "expired at"),
    ClusterCase("cluster.bootstrap-token", "no token", lambda o, p: o.secrets.clear(),
                "kube-system/Secret/bootstrap-token-*", "a bootstrap token"),
    ClusterCase("cluster.kubeadm-certs", "token lives, Secret gone", _certs_without_secret,
                KUBEADM_CERTS, f"bootstrap-token-{CERTS_TOKEN_ID} lives"),
    ClusterCase("cluster.kubeadm-certs", "a shared key missing", _certs_missing_a_key,
                KUBEADM_CERTS, "missing sa.key"),
    ClusterCase("cluster.kubeadm-certs", "its token gone", _certs_owner_gone, KUBEADM_CERTS,
                "bootstrap-token-gone00: none"),
    ClusterCase("cluster.kubeadm-certs", "token beyond 2h", _certs_token_too_long,
                KUBEADM_CERTS, "lives 2:00:00"),
    ClusterCase("cluster.cluster-role-bindings", "no kubeadm:cluster-admins",
                remove("cluster_role_bindings", "kubeadm:cluster-admins"),
                "ClusterRoleBinding/kubeadm:cluster-admins", "ClusterRole cluster-admin"),
    # The v1.34 cluster of the fixtures checked as 1.36: kubeadm 1.36 adds this binding.
    ClusterCase("cluster.cluster-role-bindings", "no apiserver kubelet client binding from 1.36",
                lambda o, p: None, "ClusterRoleBinding/kubeadm:apiserver-kubelet-client",
                "ClusterRole system:kubelet-api-admin", context={"kubernetes_minor": 36}),
    ClusterCase("addons.coredns-deployment", "CoreDNS 1 replica",
                edit("deployments", "coredns", "kube-system",
                     lambda d: d["spec"].update(replicas=1)),
                "kube-system/Deployment/coredns", "replicas 2; found replicas 1"),
    ClusterCase("addons.coredns-image", "old CoreDNS",
                edit("deployments", "coredns", "kube-system",
                     lambda d: _container(d).update(image=f"{COREDNS}:v1.11.3")),
                "kube-system/Deployment/coredns", f"image {COREDNS}:v1.12.1"),
    ClusterCase("addons.kube-dns-service", "kube-dns at the wrong IP",
                edit("services", "kube-dns", "kube-system",
                     lambda s: s["spec"].update(clusterIP="10.96.0.11")),
                "kube-system/Service/kube-dns", "clusterIP 10.96.0.10"),
    ClusterCase("addons.kube-dns-service", "no metrics port",
                edit("services", "kube-dns", "kube-system",
                     lambda s: s["spec"]["ports"].pop()),
                "kube-system/Service/kube-dns", "(9153, 'TCP')"),
    ClusterCase("addons.kube-proxy-daemonset", "unprivileged kube-proxy",
                edit("daemon_sets", "kube-proxy", "kube-system",
                     lambda d: _container(d).update(securityContext={})),
                "kube-system/DaemonSet/kube-proxy", "a privileged kube-proxy container"),
    ClusterCase("addons.kube-proxy-image", "wrong kube-proxy image",
                edit("daemon_sets", "kube-proxy", "kube-system",
                     lambda d: _container(d).update(image="registry.k8s.io/kube-proxy:v1.33.0")),
                "kube-system/DaemonSet/kube-proxy", "image registry.k8s.io/kube-proxy:v1.34.4"),
    ClusterCase("addons.kube-proxy-everywhere", "no kube-proxy on the worker",
                remove("pods", "kube-proxy-t7r2d", "kube-system"), f"Node/{WORKER}",
                "a kube-proxy pod on the node"),
    ClusterCase("node-state.registered", "worker never registered", remove("nodes", WORKER),
                f"Node/{WORKER}", "a registered Node"),
    ClusterCase("node-state.ready", "node NotReady", edit("nodes", WORKER, None, _not_ready),
                f"Node/{WORKER}", "cni plugin not initialized"),
    ClusterCase("node-state.control-plane-labels", "no exclude-from-LB label",
                edit("nodes", CONTROL_PLANE, None,
                     lambda n: n["metadata"]["labels"].pop(LB_LABEL)),
                f"Node/{CONTROL_PLANE}", f"missing {LB_LABEL}"),
    ClusterCase("node-state.control-plane-taint", "missing taint",
                edit("nodes", CONTROL_PLANE, None, lambda n: n["spec"].pop("taints")),
                f"Node/{CONTROL_PLANE}", f"taint {CP_LABEL}:NoSchedule; found no taints"),
    ClusterCase("node-state.worker-role", "worker labelled control-plane",
                edit("nodes", WORKER, None,
                     lambda n: n["metadata"]["labels"].update({CP_LABEL: ""})),
                f"Node/{WORKER}", f"no {CP_LABEL} label"),
    ClusterCase("node-state.coredns-ready", "CoreDNS pending",
                edit("pods", "coredns-66bc5c9577-q9wz4", "kube-system",
                     lambda p: p.update(status={"phase": "Pending"})),
                "kube-system/Pod/coredns-66bc5c9577-q9wz4", "found Pending, Ready=None"),
    ClusterCase("container-runtime.supported", "Debian bookworm's containerd 1.6",
                edit("nodes", WORKER, None, lambda n: n["status"]["nodeInfo"].update(
                    containerRuntimeVersion="containerd://1.6.20~ds1")),
                f"Node/{WORKER}", "containerd 2.1.3+, 2.0.6+, 1.7.28+, 1.6.39+ (kubelet v1.34.4)"
                "; found containerd://1.6.20~ds1"),
    ClusterCase("container-runtime.supported", "a containerd release the matrix skips",
                edit("nodes", CONTROL_PLANE, None, lambda n: n["status"]["nodeInfo"].update(
                    containerRuntimeVersion="containerd://2.4.2")),
                f"Node/{CONTROL_PLANE}", "found containerd://2.4.2"),
    ClusterCase("node-state.coredns-ready", "every CoreDNS pod ended",
                lambda o, p: [pod.update(status={"phase": "Succeeded"})
                              for pod in o.pods if pod["metadata"]["name"].startswith("coredns")],
                "kube-system/Pod/coredns-*", "none"),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_broken_cluster_fails_only_its_rule(case: ClusterCase, pki: Pki) -> None:
    assert_only_rule_fails(run_cluster_case(case, pki), case)


def test_cluster_info_with_another_ca(pki: Pki) -> None:
    other = pki.certs["front-proxy-ca"]
    context = {"ca_cert_pem": cert_pem(other)}
    case = ClusterCase(
        "cluster.cluster-info", "another CA", lambda o, p: None, CLUSTER_INFO,
        "the CA of pki/ca.crt", context=context,
    )  # fmt: skip
    assert_only_rule_fails(run_cluster_case(case, pki), case)


def test_an_ended_coredns_replica_beside_ready_ones_is_not_a_failure(pki: Pki) -> None:
    """After an upgrade the old ReplicaSet's pod can linger as Succeeded until the pod
    garbage collector removes it; the Deployment's replicas are the Ready ones."""

    def add_ended_replica(objects: ClusterObjects, _: Pki) -> None:
        ended = copy.deepcopy(objects.find("pods", "coredns-66bc5c9577-q9wz4", "kube-system"))
        ended["metadata"]["name"] = "coredns-589f44dc88-56p9p"
        ended["status"] = {
            "phase": "Succeeded",
            "conditions": [{"type": "Ready", "status": "False"}],
        }
        objects.pods.append(ended)

    case = ClusterCase("node-state.coredns-ready", "ended replica", add_ended_replica, "", "")
    findings = run_cluster_case(case, pki)
    assert [f for f in findings if f.status == "fail"] == []


@pytest.mark.parametrize(
    ("runtime", "kubelet_minor", "supported"),
    [
        ((2, 4, 2), 37, True),
        ((2, 3, 0), 37, True),
        ((2, 2, 9), 37, False),
        ((1, 7, 27), 35, False),
        ((1, 7, 28), 35, True),
        ((1, 6, 20), 36, False),
        # A minor newer than the matrix (v1.38.0-beta.0) is held to its newest row.
        ((2, 4, 2), 38, True),
        ((2, 2, 0), 38, False),
    ],
)
def test_containerd_support_matrix(
    runtime: tuple[int, int, int], kubelet_minor: int, supported: bool
) -> None:
    from labkit.checks.container_runtime import is_supported

    assert is_supported(runtime, kubelet_minor) is supported
