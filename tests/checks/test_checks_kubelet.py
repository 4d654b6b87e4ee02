"""Each kubelet file rule fails alone when its invariant is broken."""

from __future__ import annotations

import pytest
from breakage import NodeCase, assert_only_rule_fails, run_node_case
from kubeadm_like_pki import Pki

CONFIG = "/var/lib/kubelet/config.yaml"
FLAGS = "/var/lib/kubelet/kubeadm-flags.env"


CASES = [
    NodeCase("kubelet.files", "no kubeadm-flags.env", lambda f: f.remove(FLAGS), FLAGS,
             "no such file"),
    NodeCase("kubelet.files", "not a KubeletConfiguration",
             lambda f: f.edit(CONFIG, "kind: KubeletConfiguration", "kind: KubeletConfig"),
             CONFIG, "kubelet.config.k8s.io/v1beta1 KubeletConfiguration", role="worker"),
    NodeCase("kubelet.files", "flags without the variable",
             lambda f: f.put(FLAGS, '--node-ip=172.18.0.3\n', 0o644), FLAGS,
             'KUBELET_KUBEADM_ARGS="..."', role="worker"),
    NodeCase("kubelet.cgroup-driver", "cgroupfs",
             lambda f: f.edit(CONFIG, "cgroupDriver: systemd", "cgroupDriver: cgroupfs"),
             CONFIG, "cgroupDriver: systemd"),
    NodeCase("kubelet.anonymous-auth", "anonymous requests allowed",
             lambda f: f.edit(CONFIG, "anonymous:\n    enabled: false",
                              "anonymous:\n    enabled: true"),
             CONFIG, "authentication.anonymous.enabled: False", role="worker"),
    NodeCase("kubelet.webhook-authentication", "no token webhook",
             lambda f: f.edit(CONFIG, "cacheTTL: 0s\n    enabled: true",
                              "cacheTTL: 0s\n    enabled: false"),
             CONFIG, "authentication.webhook.enabled: True"),
    NodeCase("kubelet.authorization-mode", "AlwaysAllow",
             lambda f: f.edit(CONFIG, "mode: Webhook", "mode: AlwaysAllow"), CONFIG,
             "authorization.mode: Webhook"),
    NodeCase("kubelet.client-ca", "another client CA",
             lambda f: f.edit(CONFIG, "clientCAFile: /etc/kubernetes/pki/ca.crt",
                              "clientCAFile: /etc/kubernetes/pki/front-proxy-ca.crt"),
             CONFIG, "authentication.x509.clientCAFile: /etc/kubernetes/pki/ca.crt"),
    NodeCase("kubelet.cluster-dns", "wrong DNS IP",
             lambda f: f.edit(CONFIG, "- 10.96.0.10", "- 10.96.0.11"), CONFIG,
             "clusterDNS: ['10.96.0.10']", role="worker"),
    NodeCase("kubelet.cluster-domain", "another domain",
             lambda f: f.edit(CONFIG, "clusterDomain: cluster.local", "clusterDomain: lab.local"),
             CONFIG, "clusterDomain: cluster.local"),
    NodeCase("kubelet.static-pod-path", "another manifests directory",
             lambda f: f.edit(CONFIG, "staticPodPath: /etc/kubernetes/manifests",
                              "staticPodPath: /etc/kubernetes/pods"),
             CONFIG, "staticPodPath: /etc/kubernetes/manifests"),
    NodeCase("kubelet.rotate-certificates", "no rotation",
             lambda f: f.edit(CONFIG, "rotateCertificates: true", "rotateCertificates: false"),
             CONFIG, "rotateCertificates: True"),
    NodeCase("kubelet.cri-endpoint", "no CRI endpoint anywhere",
             lambda f: f.edit(CONFIG, "containerRuntimeEndpoint: unix:///var/run/containerd/"
                              "containerd.sock\n", ""),
             CONFIG, "--container-runtime-endpoint"),
    NodeCase("kubelet.cri-endpoint", "another runtime in the flags",
             lambda f: f.edit(FLAGS, '"--node-ip', '"--container-runtime-endpoint='
                              'unix:///var/run/crio/crio.sock --node-ip'),
             FLAGS, "CRI endpoint unix:///var/run/containerd/containerd.sock", role="worker"),
    NodeCase("kubelet.pause-image", "old pause image",
             lambda f: f.edit(FLAGS, "pause:3.10.1", "pause:3.9"), FLAGS,
             "--pod-infra-container-image=registry.k8s.io/pause:3.10.1"),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_broken_kubelet_file_fails_only_its_rule(case: NodeCase, pki: Pki) -> None:
    assert_only_rule_fails(run_node_case(case, pki), case)
