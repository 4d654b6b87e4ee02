"""CIS file items fail alone when a mode or owner is loosened; the items kubeadm's defaults
fail show up as "known" on a default node and go away on a hardened one."""

from __future__ import annotations

from typing import Any

import pytest
from breakage import NodeCase, assert_only_rule_fails, run_node_case
from kubeadm_like import (
    ETCD_UID,
    control_plane_context,
    control_plane_node,
    worker_context,
    worker_node,
)
from kubeadm_like_pki import Pki

from labkit.checks import check_node

K8S = "/etc/kubernetes"
PKI = f"{K8S}/pki"
MANIFESTS = f"{K8S}/manifests"
CONFIG = "/var/lib/kubelet/config.yaml"

CASES = [
    NodeCase("cis.manifests", "world-readable manifest",
             lambda f: f.chmod(f"{MANIFESTS}/kube-apiserver.yaml", 0o644),
             f"{MANIFESTS}/kube-apiserver.yaml", "mode 0600 or stricter"),
    NodeCase("cis.manifests", "manifest owned by a user",
             lambda f: f.chown(f"{MANIFESTS}/etcd.yaml", 1000, 1000),
             f"{MANIFESTS}/etcd.yaml", "owner root:root; found 1000:1000"),
    NodeCase("cis.manifests-dir", "group-writable manifests directory",
             lambda f: f.chmod(MANIFESTS, 0o775), MANIFESTS, "mode 0755 or stricter; found 0775"),
    NodeCase("cis.manifests-dir", "manifests directory owned by a user",
             lambda f: f.chown(MANIFESTS, 1000, 1000), MANIFESTS, "owner root:root"),
    NodeCase("cis.etcd-data-dir-mode", "open etcd data directory",
             lambda f: f.chmod("/var/lib/etcd", 0o755), "/var/lib/etcd", "mode 0700 or stricter"),
    NodeCase("cis.admin-kubeconfigs", "readable admin.conf",
             lambda f: f.chmod(f"{K8S}/admin.conf", 0o644), f"{K8S}/admin.conf",
             "mode 0600 or stricter; found 0644"),
    NodeCase("cis.component-kubeconfigs", "group-readable scheduler.conf",
             lambda f: f.chmod(f"{K8S}/scheduler.conf", 0o640), f"{K8S}/scheduler.conf",
             "found 0640"),
    NodeCase("cis.pki-ownership", "certificate owned by a user",
             lambda f: f.chown(f"{PKI}/apiserver.crt", 1000, 0), f"{PKI}/apiserver.crt",
             "owner root:root; found 1000:root"),
    NodeCase("cis.pki-certificate-mode", "world-writable certificate",
             lambda f: f.chmod(f"{PKI}/front-proxy-client.crt", 0o666),
             f"{PKI}/front-proxy-client.crt", "mode 0644 or stricter"),
    NodeCase("cis.pki-key-mode", "a 0644 key", lambda f: f.chmod(f"{PKI}/apiserver.key", 0o644),
             f"{PKI}/apiserver.key", "mode 0600 or stricter; found 0644"),
    NodeCase("cis.pki-key-mode", "readable sa.pub", lambda f: f.chmod(f"{PKI}/sa.pub", 0o644),
             f"{PKI}/sa.pub", "found 0644"),
    NodeCase("cis.kubelet-kubeconfig", "readable kubelet.conf on a worker",
             lambda f: f.chmod(f"{K8S}/kubelet.conf", 0o644), f"{K8S}/kubelet.conf",
             "mode 0600 or stricter", role="worker"),
    NodeCase("cis.client-ca-file", "group-writable CA on a worker",
             lambda f: f.chmod(f"{PKI}/ca.crt", 0o664), f"{PKI}/ca.crt",
             "mode 0644 or stricter", role="worker"),
    NodeCase("cis.kubelet-config-owner", "kubelet config owned by a user",
             lambda f: f.chown(CONFIG, 1000, 1000), CONFIG, "owner root:root"),
]  # fmt: skip

# CIS items a default kubeadm node fails, and the file or manifest each names.
KNOWN = {
    "cis.etcd-data-dir-owner": "/var/lib/etcd",
    "cis.kubelet-config-mode": CONFIG,
    "cis.apiserver-anonymous-auth": f"{MANIFESTS}/kube-apiserver.yaml",
    "cis.apiserver-kubelet-certificate-authority": f"{MANIFESTS}/kube-apiserver.yaml",
    "cis.apiserver-event-rate-limit": f"{MANIFESTS}/kube-apiserver.yaml",
    "cis.apiserver-always-pull-images": f"{MANIFESTS}/kube-apiserver.yaml",
    "cis.profiling": f"{MANIFESTS}/kube-controller-manager.yaml",
    "cis.apiserver-audit-log": f"{MANIFESTS}/kube-apiserver.yaml",
}
HARDENING = (
    ("anonymous-auth", "false"),
    ("kubelet-certificate-authority", "/etc/kubernetes/pki/ca.crt"),
    ("enable-admission-plugins", "NodeRestriction,EventRateLimit,AlwaysPullImages"),
    ("profiling", "false"),
    ("audit-log-path", "/var/log/kubernetes/audit.log"),
)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_loosened_file_fails_only_its_cis_item(case: NodeCase, pki: Pki) -> None:
    assert_only_rule_fails(run_node_case(case, pki), case)


def test_default_control_plane_shows_exactly_the_known_cis_items(pki: Pki) -> None:
    findings = check_node(control_plane_node(pki).artifacts(), control_plane_context())
    known = {f.rule_id: f for f in findings if f.status == "known"}
    assert set(known) == set(KNOWN)
    assert not [f for f in findings if f.status == "fail"]
    profiling = {f.path for f in findings if f.rule_id == "cis.profiling"}
    assert KNOWN["cis.profiling"] in profiling and len(profiling) == 3
    for rule_id, path in KNOWN.items():
        assert any(f.path == path for f in findings if f.rule_id == rule_id), rule_id


def test_default_worker_shows_only_the_kubelet_config_mode(pki: Pki) -> None:
    findings = check_node(worker_node(pki).artifacts(), worker_context())
    assert [(f.rule_id, f.status) for f in findings] == [("cis.kubelet-config-mode", "known")]


def _harden(pki: Pki) -> tuple[Any, Any]:
    extra = tuple(f"--{name}={value}" for name, value in HARDENING)
    files = control_plane_node(pki, apiserver_extra=extra)
    for component in ("kube-controller-manager", "kube-scheduler"):
        path = f"{MANIFESTS}/{component}.yaml"
        files.edit(path, "--leader-elect=true", "--leader-elect=true\n    - --profiling=false")
    files.put("/etc/passwd", files.text("/etc/passwd") + f"etcd:x:{ETCD_UID}:{ETCD_UID}::/:\n")
    files.put("/etc/group", files.text("/etc/group") + f"etcd:x:{ETCD_UID}:\n")
    files.chown("/var/lib/etcd", ETCD_UID, ETCD_UID)
    files.chmod(CONFIG, 0o600)
    return files, control_plane_context(apiserver_extra_args=HARDENING)


def test_hardened_control_plane_has_no_known_items(pki: Pki) -> None:
    files, context = _harden(pki)
    assert check_node(files.artifacts(), context) == []


def test_strict_turns_known_items_into_failures(pki: Pki) -> None:
    findings = check_node(control_plane_node(pki).artifacts(), control_plane_context(), strict=True)
    assert {f.rule_id for f in findings} == set(KNOWN)
    assert {f.status for f in findings} == {"fail"}
