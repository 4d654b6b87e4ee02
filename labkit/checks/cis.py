"""CIS Kubernetes Benchmark 1.12 (kube-bench cis-1.12, for 1.32-1.34) items about kubeadm's
files, and the items kubeadm's defaults are known to fail.

File items compare like kube-bench: a mode passes when it sets no bit the benchmark's mode
leaves clear ("600 or more restrictive"), an owner when `stat -c %U:%G` would say so. Items
kubeadm's defaults fail are rules with `known=True`: reported with status "known", so a
default lab shows them without failing on them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from labkit.checks.artifacts import FileEntry, NodeArtifacts
from labkit.checks.context import CheckContext
from labkit.checks.findings import RuleSet, Violation, cis_source
from labkit.checks.manifests import read_static_pod
from labkit.checks.parsing import parse_flags
from labkit.constants import (
    ETCD_DATA_DIR,
    KUBELET_CONFIG,
    KUBERNETES_DIR,
    MANIFESTS_DIR,
    PKI_DIR,
    manifest_path,
)
from labkit.kubeadm.config import CONTROL_PLANE_COMPONENTS

RULES = RuleSet(artifact="cis", scope="node")

MASTER = cis_source("master")
NODE = cis_source("node")
ROOT = "root:root"

Paths = Callable[[NodeArtifacts, CheckContext], list[str]]


@dataclass(frozen=True)
class FileItem:
    """Files whose mode must stay within `max_mode` and, if `owner` is set, be owned so."""

    rule_id: str
    statement: str
    paths: Paths
    max_mode: int
    owner: str | None = ROOT
    control_plane_only: bool = True
    source: str = MASTER
    known: bool = False

    def check(self, node: NodeArtifacts, context: CheckContext) -> Iterator[Violation]:
        if self.control_plane_only and not context.is_control_plane:
            return
        for path in self.paths(node, context):
            entry = node.get(path)
            if entry is not None:
                yield from self._check_entry(node, entry)

    def _check_entry(self, node: NodeArtifacts, entry: FileEntry) -> Iterator[Violation]:
        if entry.mode & ~self.max_mode:
            yield Violation(
                entry.path, f"mode {self.max_mode:04o} or stricter", f"{entry.mode:04o}"
            )
        owner = node.owner(entry)
        if self.owner is not None and owner != self.owner:
            yield Violation(entry.path, f"owner {self.owner}", owner)


def _fixed(*paths: str) -> Paths:
    return lambda node, context: list(paths)


def _manifests(node: NodeArtifacts, context: CheckContext) -> list[str]:
    return [manifest_path(component) for component in CONTROL_PLANE_COMPONENTS]


def _pki_files(*suffixes: str) -> Paths:
    def paths(node: NodeArtifacts, context: CheckContext) -> list[str]:
        return [e.path for e in node.under(PKI_DIR) if not e.is_dir and e.path.endswith(suffixes)]

    return paths


def _pki_keys(node: NodeArtifacts, context: CheckContext) -> list[str]:
    """Private keys, and sa.pub where kubeadm init wrote it with keyutil.WriteKey (0600);
    a control plane that joined got it from the kubeadm-certs Secret through copycerts'
    writeCertOrKey, which writes a public key as a certificate (0644)."""
    suffixes = (".key", "/sa.pub") if context.first_control_plane else (".key",)
    return _pki_files(*suffixes)(node, context)


def _pki_certificates(node: NodeArtifacts, context: CheckContext) -> list[str]:
    suffixes = (".crt",) if context.first_control_plane else (".crt", "/sa.pub")
    return _pki_files(*suffixes)(node, context)


def _pki_tree(node: NodeArtifacts, context: CheckContext) -> list[str]:
    return [PKI_DIR, *(entry.path for entry in node.under(PKI_DIR))]


FILE_ITEMS = (
    FileItem("cis.manifests", "1.1.1-1.1.8: static pod manifests 600 or stricter, root:root",
             _manifests, 0o600),
    # Not a CIS item. kubeadm's WriteStaticPodToDisk creates the directory 0700 only when it
    # is missing; the kubelet packages (kubernetes build/rpms/kubelet.spec) and node images
    # ship it 0755, which kubeadm keeps: what matters is that only root may write to it.
    FileItem("cis.manifests-dir", "The manifests directory is 0755 or stricter (writable by "
             "root only), root:root", _fixed(MANIFESTS_DIR), 0o755),
    FileItem("cis.etcd-data-dir-mode", "1.1.11: the etcd data directory is 700 or stricter",
             _fixed(ETCD_DATA_DIR), 0o700, owner=None),
    FileItem("cis.etcd-data-dir-owner", "1.1.12: the etcd data directory is owned by etcd:etcd "
             "(kubeadm runs etcd as root: known to fail)", _fixed(ETCD_DATA_DIR), 0o7777,
             owner="etcd:etcd", known=True),
    FileItem("cis.admin-kubeconfigs", "1.1.13-1.1.14: admin.conf and super-admin.conf 600 or "
             "stricter, root:root",
             _fixed(f"{KUBERNETES_DIR}/admin.conf", f"{KUBERNETES_DIR}/super-admin.conf"), 0o600),
    FileItem("cis.component-kubeconfigs", "1.1.15-1.1.18: scheduler.conf and "
             "controller-manager.conf 600 or stricter, root:root",
             _fixed(f"{KUBERNETES_DIR}/scheduler.conf",
                    f"{KUBERNETES_DIR}/controller-manager.conf"), 0o600),
    FileItem("cis.pki-ownership", "1.1.19: the PKI directory and its files are root:root",
             _pki_tree, 0o7777),
    FileItem("cis.pki-certificate-mode", "1.1.20: PKI certificates (and a joined control "
             "plane's sa.pub) are 644 or stricter", _pki_certificates, 0o644, owner=None),
    FileItem("cis.pki-key-mode", "1.1.21: PKI keys (and sa.pub where kubeadm init wrote it) "
             "are 600 or stricter", _pki_keys, 0o600, owner=None),
    FileItem("cis.kubelet-kubeconfig", "4.1.5-4.1.6: kubelet.conf 600 or stricter, root:root",
             _fixed(f"{KUBERNETES_DIR}/kubelet.conf"), 0o600, control_plane_only=False,
             source=NODE),
    FileItem("cis.client-ca-file", "4.1.7-4.1.8: the kubelet's client CA file (pki/ca.crt) is "
             "644 or stricter, root:root", _fixed(f"{PKI_DIR}/ca.crt"), 0o644,
             control_plane_only=False, source=NODE),
    FileItem("cis.kubelet-config-mode", "4.1.9: /var/lib/kubelet/config.yaml 600 or stricter "
             "(kubeadm writes 0644: known to fail)", _fixed(KUBELET_CONFIG), 0o600, owner=None,
             control_plane_only=False, source=NODE, known=True),
    FileItem("cis.kubelet-config-owner", "4.1.10: /var/lib/kubelet/config.yaml is root:root",
             _fixed(KUBELET_CONFIG), 0o7777, control_plane_only=False, source=NODE),
)  # fmt: skip
RULES.add_rows(FILE_ITEMS)


@dataclass(frozen=True)
class FlagItem:
    """A flag a CIS item wants and kubeadm's defaults do not set (so known to fail)."""

    rule_id: str
    item: str  # the CIS item: its number and what it asks
    components: tuple[str, ...]
    flag: str
    # Whether the component's flags satisfy the item.
    passes: Callable[[dict[str, str]], bool]
    wanted: str
    source: str = MASTER
    known: bool = True

    @property
    def statement(self) -> str:
        return f"{self.item} (known to fail)"

    def check(self, node: NodeArtifacts, context: CheckContext) -> Iterator[Violation]:
        if not context.is_control_plane:
            return
        for component in self.components:
            try:
                pod = read_static_pod(node, component)
            except ValueError:
                continue
            if pod is None:
                continue
            flags = parse_flags(pod.command[1:])
            if not self.passes(flags):
                flag = self.flag
                found = f"--{flag}={flags[flag]}" if flag in flags else f"no --{flag}"
                yield Violation(pod.path, self.wanted, found)


def _has_plugin(plugin: str) -> Callable[[dict[str, str]], bool]:
    return lambda flags: plugin in flags.get("enable-admission-plugins", "").split(",")


FLAG_ITEMS = (
    FlagItem("cis.apiserver-anonymous-auth", "1.2.1: the apiserver sets --anonymous-auth=false",
             ("kube-apiserver",), "anonymous-auth", lambda f: f.get("anonymous-auth") == "false",
             "--anonymous-auth=false"),
    FlagItem("cis.apiserver-kubelet-certificate-authority",
             "1.2.5: the apiserver verifies kubelets' serving certificates",
             ("kube-apiserver",), "kubelet-certificate-authority",
             lambda f: bool(f.get("kubelet-certificate-authority")),
             "--kubelet-certificate-authority=<ca file>"),
    FlagItem("cis.apiserver-event-rate-limit", "1.2.9: the EventRateLimit admission plugin is on",
             ("kube-apiserver",), "enable-admission-plugins", _has_plugin("EventRateLimit"),
             "--enable-admission-plugins=...,EventRateLimit"),
    FlagItem("cis.apiserver-always-pull-images",
             "1.2.11: the AlwaysPullImages admission plugin is on", ("kube-apiserver",),
             "enable-admission-plugins", _has_plugin("AlwaysPullImages"),
             "--enable-admission-plugins=...,AlwaysPullImages"),
    FlagItem("cis.profiling", "1.2.15, 1.3.2, 1.4.1: apiserver, controller-manager and "
             "scheduler set --profiling=false",
             ("kube-apiserver", "kube-controller-manager", "kube-scheduler"), "profiling",
             lambda f: f.get("profiling") == "false", "--profiling=false"),
    FlagItem("cis.apiserver-audit-log", "1.2.16: the apiserver writes an audit log",
             ("kube-apiserver",), "audit-log-path", lambda f: bool(f.get("audit-log-path")),
             "--audit-log-path=<file>"),
)  # fmt: skip
RULES.add_rows(FLAG_ITEMS)
