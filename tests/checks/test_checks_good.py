"""A node and a cluster as kubeadm leaves them pass every rule; reading them works as the
node would be read."""

from __future__ import annotations

import io
import tarfile
from typing import Any

import pytest
from kubeadm_like import control_plane_context, control_plane_node, worker_context, worker_node
from kubeadm_like_cluster import cluster_context, good_cluster
from kubeadm_like_pki import Pki
from kubeadm_output import IMAGES_LIST_OUTPUT, KLOG_WARNING

from labkit.checks import (
    CheckContext,
    NodeArtifacts,
    check_cluster,
    check_node,
    parse_images_list,
    read_node_artifacts,
)
from labkit.checks.artifacts import archive_command
from labkit.errors import LabkitError, StepFailed

ALGORITHMS = ("RSA-2048", "ECDSA-P256", "ECDSA-P384")


def failures(findings: list[Any]) -> list[str]:
    return [f.message for f in findings if f.status == "fail"]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_good_control_plane_has_no_failures(algorithm: str, pki_for: Any) -> None:
    files = control_plane_node(pki_for(algorithm))
    assert failures(check_node(files.artifacts(), control_plane_context(algorithm))) == []


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_good_worker_has_no_failures(algorithm: str, pki_for: Any) -> None:
    files = worker_node(pki_for(algorithm))
    assert failures(check_node(files.artifacts(), worker_context(algorithm))) == []


def test_extra_args_replace_defaults(pki: Pki) -> None:
    extra = (("authorization-mode", "Node,RBAC,Webhook"), ("audit-log-maxage", "30"))
    files = control_plane_node(pki, apiserver_extra=tuple(f"--{n}={v}" for n, v in extra))
    context = control_plane_context(apiserver_extra_args=extra)
    assert failures(check_node(files.artifacts(), context)) == []


def test_good_cluster_has_no_findings(pki: Pki) -> None:
    snapshot = good_cluster(pki.certs["ca"]).snapshot()
    assert check_cluster(snapshot, cluster_context(pki.certs["ca"])) == []


def test_node_artifacts_must_match_the_context(pki: Pki) -> None:
    with pytest.raises(LabkitError, match="one CheckContext per node"):
        check_node(worker_node(pki).artifacts(), control_plane_context())


class FakeContainer:
    """The part of a docker SDK container `read_node_artifacts` uses."""

    def __init__(self, exit_code: int, stdout: bytes | None, stderr: bytes = b"") -> None:
        self.result = (exit_code, (stdout, stderr))
        self.commands: list[list[str]] = []

    def exec_run(self, command: list[str], demux: bool = False) -> Any:
        assert demux
        self.commands.append(command)
        return self.result


def test_read_node_artifacts_takes_one_exec(pki: Pki) -> None:
    files = control_plane_node(pki)
    container = FakeContainer(0, files.tar(), b"tar: Removing leading `/' from member names\n")
    artifacts = read_node_artifacts(container, "lab-control-plane", "control-plane")
    assert container.commands == [archive_command()]
    command = container.commands[0]
    assert command[:3] == ["tar", "-c", "-f"] and "--ignore-failed-read" in command
    assert command.index("--no-recursion") == command.index("/var/lib/etcd") - 1
    assert artifacts.files.keys() == files.files.keys()
    key = artifacts.get("/etc/kubernetes/pki/ca.key")
    assert key is not None and key.mode == 0o600 and key.data.startswith(b"-----BEGIN")
    assert artifacts.owner(key) == "root:root"
    assert artifacts.get("/var/lib/etcd").is_dir  # type: ignore[union-attr]


def test_read_node_artifacts_reports_a_failed_tar() -> None:
    container = FakeContainer(2, None, b"tar: /etc/kubernetes: Cannot open: Permission denied\n")
    with pytest.raises(StepFailed) as failure:
        read_node_artifacts(container, "lab-worker", "worker")
    assert failure.value.node == "lab-worker"
    assert "Permission denied" in str(failure.value)


class FlakyContainer(FakeContainer):
    """Fails the first reads the way docker-py's exec stream does when it loses bytes."""

    def __init__(self, failures: list[Exception | bytes], stdout: bytes) -> None:
        super().__init__(0, stdout)
        self.failures = failures

    def exec_run(self, command: list[str], demux: bool = False) -> Any:
        result = super().exec_run(command, demux)
        if self.failures:
            failure = self.failures.pop(0)
            if isinstance(failure, Exception):
                raise failure
            return 0, (failure, b"")
        return result


def test_read_node_artifacts_reads_again_after_a_misframed_stream(pki: Pki) -> None:
    files = control_plane_node(pki)
    container = FlakyContainer(
        [ValueError("117 is not a valid stream"), b"ustar\x00 lost start"], files.tar()
    )
    artifacts = read_node_artifacts(container, "lab-control-plane", "control-plane")
    assert len(container.commands) == 3
    assert artifacts.files.keys() == files.files.keys()


def test_read_node_artifacts_gives_up_with_the_evidence(pki: Pki) -> None:
    container = FlakyContainer([ValueError("117 is not a valid stream")] * 3, b"")
    with pytest.raises(StepFailed) as failure:
        read_node_artifacts(container, "lab-worker", "worker")
    assert len(container.commands) == 3
    assert "117 is not a valid stream" in str(failure.value)


def test_read_node_artifacts_reads_extra_paths_in_the_same_exec(pki: Pki) -> None:
    container = FakeContainer(0, worker_node(pki).tar())
    config = "/etc/labkit/kubeadm.yaml"
    read_node_artifacts(container, "lab-worker", "worker", extra_paths=(config,))
    command = container.commands[0]
    assert command.index(config) < command.index("--no-recursion")


def test_from_tar_keeps_absolute_paths() -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo("./etc/kubernetes/admin.conf")
        info.size, info.mode, info.uid, info.gid = 2, 0o600, 0, 0
        archive.addfile(info, io.BytesIO(b"{}"))
    artifacts = NodeArtifacts.from_tar("n", "worker", buffer.getvalue())
    assert list(artifacts.files) == ["/etc/kubernetes/admin.conf"]
    assert artifacts.owner(artifacts.files["/etc/kubernetes/admin.conf"]) == "0:0"


def test_parse_images_list() -> None:
    images = parse_images_list(f"{KLOG_WARNING}\n{IMAGES_LIST_OUTPUT}")
    assert images["coredns"] == "registry.k8s.io/coredns/coredns:v1.12.1"
    assert images["etcd"] == "registry.k8s.io/etcd:3.6.5-0"
    assert set(images) == {"kube-apiserver", "kube-controller-manager", "kube-scheduler",
                           "kube-proxy", "coredns", "pause", "etcd"}  # fmt: skip


@pytest.mark.parametrize("text", ["", "not-an-image\n"])
def test_parse_images_list_rejects_other_output(text: str) -> None:
    with pytest.raises(LabkitError, match="kubeadm config images list"):
        parse_images_list(text)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"role": "etcd"}, "role"),
        ({"encryption_algorithm": "DSA-1024"}, "encryptionAlgorithm"),
        ({"advertise_address": "lab-control-plane"}, "not an IP"),
        ({"images": {}}, "parse_images_list"),
    ],
)
def test_context_rejects_what_kubeadm_would(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(LabkitError, match=message):
        control_plane_context(**changes)


def test_context_endpoints() -> None:
    context = control_plane_context(control_plane_endpoint="[fd00::1]")
    assert context.cluster_api_url == "https://[fd00::1]:6443"
    assert context.local_api_url == "https://172.18.0.2:6443"
    assert isinstance(worker_context(control_plane_endpoint=None), CheckContext)
    assert worker_context(control_plane_endpoint=None).cluster_api_url is None


def test_from_tar_reads_hard_links() -> None:
    # GNU tar archives a file met twice (a dereferenced symlink) as a link to the first.
    buffer = io.BytesIO()
    dated = "var/lib/kubelet/pki/kubelet-client-2026-01-01-00-00-00.pem"
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo(dated)
        info.size = 4
        archive.addfile(info, io.BytesIO(b"cert"))
        link = tarfile.TarInfo("var/lib/kubelet/pki/kubelet-client-current.pem")
        link.type, link.linkname = tarfile.LNKTYPE, dated
        archive.addfile(link)
    artifacts = NodeArtifacts.from_tar("n", "worker", buffer.getvalue())
    assert artifacts.files["/var/lib/kubelet/pki/kubelet-client-current.pem"].data == b"cert"


def test_kubeadm_upgrade_backups_are_listed_not_read() -> None:
    # After `kubeadm upgrade`, /etc/kubernetes/tmp holds a copy of etcd's data (124 MB on a
    # fresh lab): reading it made `labkit check` stall on the stream. Their names stay: the
    # etcd backup says kubeadm upgrade wrote etcd's manifest.
    command = archive_command()
    assert "--exclude=/etc/kubernetes/tmp/*/*" in command
    assert command.index("--exclude=/etc/kubernetes/tmp/*/*") < command.index("/etc/kubernetes")
