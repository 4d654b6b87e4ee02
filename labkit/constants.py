"""Names, node paths, ports and timeouts that kubeadm, the node image and labkit agree on.

One definition each, imported everywhere, as kind keeps its `pkg/cluster/constants`.
Versions live in `labkit.versions`, labels and host paths in `labkit.naming`.
"""

from __future__ import annotations

import ipaddress
from typing import Literal

# kubeadm's word for the control plane: a node role, an init phase, the static pods'
# `tier` label.
CONTROL_PLANE = "control-plane"
# Node roles, as the spec names them and as the node containers are labelled.
ROLE_CONTROL_PLANE = CONTROL_PLANE
ROLE_WORKER = "worker"
# Not a node: the container in front of several control planes' API servers.
ROLE_LOAD_BALANCER = "load-balancer"
# Not a node either: the lab's image registry, which every node's containerd mirrors through.
ROLE_REGISTRY = "registry"
Role = Literal["control-plane", "worker"]
ROLES: tuple[Role, ...] = (ROLE_CONTROL_PLANE, ROLE_WORKER)

# What kubeadm writes on a node (cmd/kubeadm/app/constants).
KUBERNETES_DIR = "/etc/kubernetes"
PKI_DIR = f"{KUBERNETES_DIR}/pki"
# What control planes share, under PKI_DIR: generated once by `kubeadm init`, given to the
# others (copycerts.certsToTransfer with local etcd, through the kubeadm-certs Secret).
SHARED_PKI_FILES = (
    "ca.crt",
    "ca.key",
    "front-proxy-ca.crt",
    "front-proxy-ca.key",
    "sa.key",
    "sa.pub",
    "etcd/ca.crt",
    "etcd/ca.key",
)
MANIFESTS_DIR = f"{KUBERNETES_DIR}/manifests"
CA_CERT = f"{PKI_DIR}/ca.crt"
# kubeadm's scratch space: `kubeadm upgrade` keeps its backups there (etcd's data included).
KUBEADM_TEMP_DIR = f"{KUBERNETES_DIR}/tmp"
ADMIN_CONF = f"{KUBERNETES_DIR}/admin.conf"
# kubectl on a control-plane node, as the cluster admin kubeadm made.
KUBECTL_ON_NODE = ("kubectl", "--kubeconfig", ADMIN_CONF)
CONTROLLER_MANAGER_CONF = f"{KUBERNETES_DIR}/controller-manager.conf"
SCHEDULER_CONF = f"{KUBERNETES_DIR}/scheduler.conf"
KUBELET_DIR = "/var/lib/kubelet"
KUBELET_CONFIG = f"{KUBELET_DIR}/config.yaml"
KUBELET_INSTANCE_CONFIG = f"{KUBELET_DIR}/instance-config.yaml"
KUBELET_FLAGS_ENV = f"{KUBELET_DIR}/kubeadm-flags.env"
KUBELET_PKI_DIR = f"{KUBELET_DIR}/pki"
KUBELET_CLIENT_PEM = f"{KUBELET_PKI_DIR}/kubelet-client-current.pem"
ETCD_DATA_DIR = "/var/lib/etcd"
# kubeadm patches for a node's kubelet configuration (its reservation beyond Docker limits).
KUBELET_PATCHES_DIR = f"{KUBERNETES_DIR}/patches"
# Where labkit writes the rendered kubeadm config on a node.
KUBEADM_CONFIG = "/etc/labkit/kubeadm.yaml"
# Where labkit writes kubeadm's UpgradeConfiguration on a node.
KUBEADM_UPGRADE_CONFIG = "/etc/labkit/kubeadm-upgrade.yaml"
# Where a troubleshooting join writes its JoinConfiguration, apart from the bring-up's.
JOIN_CONFIG = "/etc/labkit/join.yaml"
# What the node image holds: its release and the images it preloads.
NODE_IMAGE_VERSION_FILE = "/kind/version"
NODE_IMAGE_LIST = "/kind/images.txt"
CNI_MANIFEST = "/kind/manifests/default-cni.yaml"


def manifest_path(component: str) -> str:
    """The static pod manifest kubeadm writes for a control-plane component."""
    return f"{MANIFESTS_DIR}/{component}.yaml"


# Ports.
API_SERVER_PORT = 6443
ETCD_CLIENT_PORT = 2379
ETCD_PEER_PORT = 2380
ETCD_METRICS_PORT = 2381

# The containerd namespace of the kubelet's CRI: images for pods go there.
CONTAINERD_NAMESPACE = "k8s.io"

# Timeouts, in seconds, named by what they bound.
# One `kubeadm init`, `init phase` or `join` in a bring-up (kubeadm waits up to 4 min for
# the kubelet and the API server itself).
KUBEADM_BRINGUP_TIMEOUT = 600.0
# A kubeadm command that only prints (`config images list`, `config print`).
KUBEADM_QUERY_TIMEOUT = 60.0
# A `kubeadm reset`, and a `kubeadm join` expected to fail (troubleshooting cases).
KUBEADM_RESET_TIMEOUT = 120.0
KUBEADM_FAILING_JOIN_TIMEOUT = 240.0
# `kubeadm init phase preflight` alone.
KUBEADM_PREFLIGHT_TIMEOUT = 180.0
# One `kubeadm upgrade plan`, `apply` or `node` (apply restarts every static pod, and
# waits up to 5 minutes for each).
KUBEADM_UPGRADE_TIMEOUT = 1200.0
# `kubectl drain` of one node (evictions wait for PodDisruptionBudgets).
DRAIN_TIMEOUT = 180.0
# From the end of init until every node, the control plane and the addons are Ready.
READY_TIMEOUT = 300.0
# From container start until systemd in the node reports running.
SYSTEMD_BOOT_TIMEOUT = 60.0
# Until cluster-info carries the JWS signature of a token.
SIGNATURE_TIMEOUT = 60.0
# `docker stop` of a node: SIGRTMIN+3 makes systemd power off (kubelet, containerd, pods);
# Docker kills the node only after this many seconds; a node stops in 1-7 s.
NODE_STOP_TIMEOUT = 30
# Stopping the kubelet and the API server before a control plane powers off.
API_SERVER_STOP_TIMEOUT = 30.0
# One crictl call on a node.
CRICTL_TIMEOUT = 20.0
# One API request while diagnosing: (connect, read); the client retries a failed connect a
# few times.
API_REQUEST_TIMEOUT = (5, 20)
# `ctr images import` of one image archive into a node.
IMAGE_IMPORT_TIMEOUT = 300.0
# One query of etcd on a node (its member list).
ETCD_QUERY_TIMEOUT = 20.0
# How long `lab upgrade` waits for a lab to show healthy before it refuses to start.
UPGRADE_HEALTH_TIMEOUT = 20.0
# Until Docker lists nothing of a lab being removed (a container killed mid-create
# lingers for seconds).
REMOVAL_TIMEOUT = 60.0

# Lab networks are /24s carved from here: clear of Docker's default pools (172.17-31),
# kind's 172.18, and the pod and service subnets labs use (10.244/16, 10.96/12), which the
# spec keeps out of it.
SUBNET_POOL = ipaddress.ip_network("10.201.0.0/16")
