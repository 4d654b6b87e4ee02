"""The cluster objects the cluster rules look at, read once through the API.

The rules work on plain dicts shaped like the API's JSON (camelCase keys, Secret data in
base64), so that tests can write them by hand and the kubernetes client stays out of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from labkit.constants import API_REQUEST_TIMEOUT

Object = dict[str, Any]

KUBE_SYSTEM = "kube-system"
KUBE_PUBLIC = "kube-public"
BOOTSTRAP_TOKEN_TYPE = "bootstrap.kubernetes.io/token"
# Where `kubeadm init --upload-certs` keeps the shared keys, encrypted, for joining control
# planes (cmd/kubeadm/app/phases/copycerts).
KUBEADM_CERTS_SECRET = "kubeadm-certs"


@dataclass(frozen=True)
class ClusterSnapshot:
    """Nodes, kube-system's workloads and kubeadm's ConfigMaps, Secrets and bindings."""

    nodes: tuple[Object, ...] = ()
    pods: tuple[Object, ...] = ()  # kube-system
    config_maps: tuple[Object, ...] = ()  # kube-public and kube-system
    secrets: tuple[Object, ...] = ()  # kube-system: bootstrap tokens and kubeadm-certs
    services: tuple[Object, ...] = ()  # kube-system
    deployments: tuple[Object, ...] = ()  # kube-system
    daemon_sets: tuple[Object, ...] = ()  # kube-system
    cluster_role_bindings: tuple[Object, ...] = ()
    role_bindings: tuple[Object, ...] = ()  # kube-public and kube-system
    taken_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def find(self, kind: str, namespace: str | None, name: str) -> Object | None:
        """The object of a field (`config_maps`, ...) with that namespace and name."""
        for obj in getattr(self, kind):
            meta = obj.get("metadata") or {}
            if meta.get("name") == name and meta.get("namespace") == namespace:
                return obj
        return None

    def node(self, name: str) -> Object | None:
        return self.find("nodes", None, name)


def object_path(namespace: str | None, kind: str, name: str) -> str:
    """How a finding names an object: namespace/Kind/name."""
    return f"{namespace}/{kind}/{name}" if namespace else f"{kind}/{name}"


def name_of(obj: Object) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def labels_of(obj: Object) -> dict[str, str]:
    return (obj.get("metadata") or {}).get("labels") or {}


def fetch_cluster_snapshot(api_client: Any) -> ClusterSnapshot:
    """Read what the cluster rules need with a kubernetes client `ApiClient` (37.x)."""
    # Imported here: the client takes a second to import and only this function needs it.
    from kubernetes import client

    taken_at = datetime.now(UTC)
    core = client.CoreV1Api(api_client)
    apps = client.AppsV1Api(api_client)
    rbac = client.RbacAuthorizationV1Api(api_client)

    def items(result: Any) -> tuple[Object, ...]:
        return tuple(api_client.sanitize_for_serialization(result).get("items") or ())

    def read(list_call: Any, *args: Any, **kwargs: Any) -> tuple[Object, ...]:
        # Bounded: an API server that accepts connections and never answers (one stuck in
        # its start) must make `check` report it, not hang.
        return items(list_call(*args, **kwargs, _request_timeout=API_REQUEST_TIMEOUT))

    def both(list_namespaced: Any) -> tuple[Object, ...]:
        return read(list_namespaced, KUBE_PUBLIC) + read(list_namespaced, KUBE_SYSTEM)

    return ClusterSnapshot(
        nodes=read(core.list_node),
        pods=read(core.list_namespaced_pod, KUBE_SYSTEM),
        config_maps=both(core.list_namespaced_config_map),
        # Only bootstrap tokens and kubeadm-certs: the rules have no business reading others.
        secrets=read(
            core.list_namespaced_secret, KUBE_SYSTEM, field_selector=f"type={BOOTSTRAP_TOKEN_TYPE}"
        )
        + read(
            core.list_namespaced_secret,
            KUBE_SYSTEM,
            field_selector=f"metadata.name={KUBEADM_CERTS_SECRET}",
        ),
        services=read(core.list_namespaced_service, KUBE_SYSTEM),
        deployments=read(apps.list_namespaced_deployment, KUBE_SYSTEM),
        daemon_sets=read(apps.list_namespaced_daemon_set, KUBE_SYSTEM),
        cluster_role_bindings=read(rbac.list_cluster_role_binding),
        role_bindings=both(rbac.list_namespaced_role_binding),
        taken_at=taken_at,
    )
