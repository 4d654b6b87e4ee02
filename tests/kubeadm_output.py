"""What kubeadm v1.34.4 prints, for the tests of the checks and of the node image build.

One copy of each output, so the rules' expectations and the node image's components are
read from the same text a real kubeadm gives.
"""

from __future__ import annotations

import yaml

# `kubeadm config images list` of kubeadm v1.34.4.
IMAGES_LIST_OUTPUT = """\
registry.k8s.io/kube-apiserver:v1.34.4
registry.k8s.io/kube-controller-manager:v1.34.4
registry.k8s.io/kube-scheduler:v1.34.4
registry.k8s.io/kube-proxy:v1.34.4
registry.k8s.io/coredns/coredns:v1.12.1
registry.k8s.io/pause:3.10.1
registry.k8s.io/etcd:3.6.5-0
"""
# A klog line of the kind kubeadm logs when, offline, it cannot resolve a version label; it
# reaches the listing when stderr is read with stdout.
KLOG_WARNING = (
    "W1123 12:00:00.000000    4321 version.go:104] could not fetch a Kubernetes version from "
    "the internet: unable to get URL"
)


def cluster_configuration(kubernetes_version: str, **networking: str) -> str:
    """The ClusterConfiguration as kubeadm prints it (keys sorted): with `networking` over
    its defaults, as `kubeadm config print init-defaults` (kubernetesVersion 1.34.0) or the
    kubeadm-config ConfigMap of a lab show it."""
    return yaml.safe_dump({
        "apiServer": {}, "apiVersion": "kubeadm.k8s.io/v1beta4",
        "caCertificateValidityPeriod": "87600h0m0s", "certificateValidityPeriod": "8760h0m0s",
        "certificatesDir": "/etc/kubernetes/pki", "clusterName": "kubernetes",
        "controllerManager": {}, "dns": {}, "encryptionAlgorithm": "RSA-2048",
        "etcd": {"local": {"dataDir": "/var/lib/etcd"}}, "imageRepository": "registry.k8s.io",
        "kind": "ClusterConfiguration", "kubernetesVersion": kubernetes_version,
        "networking": {"dnsDomain": "cluster.local", "serviceSubnet": "10.96.0.0/12",
                       **networking},
        "proxy": {}, "scheduler": {},
    })  # fmt: skip


# `kubeadm config print init-defaults` of kubeadm v1.34.4 (timeouts left out).
INIT_DEFAULTS = """\
apiVersion: kubeadm.k8s.io/v1beta4
bootstrapTokens:
- groups:
  - system:bootstrappers:kubeadm:default-node-token
  token: abcdef.0123456789abcdef
  ttl: 24h0m0s
  usages:
  - signing
  - authentication
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: 1.2.3.4
  bindPort: 6443
nodeRegistration:
  criSocket: unix:///var/run/containerd/containerd.sock
  imagePullPolicy: IfNotPresent
  name: node
  taints: null
---
""" + cluster_configuration("1.34.0")
