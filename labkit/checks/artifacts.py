"""A node's kubeadm artifacts, read in one archive.

Reading file by file costs one `docker exec` per file and attribute (testinfra's model);
the node rules instead get every file kubeadm writes, with its mode and owner, from a single
`tar` run inside the node, and check them in-process.
"""

from __future__ import annotations

import io
import posixpath
import tarfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from labkit.constants import (
    ETCD_DATA_DIR,
    KUBEADM_TEMP_DIR,
    KUBELET_CONFIG,
    KUBELET_FLAGS_ENV,
    KUBELET_INSTANCE_CONFIG,
    KUBELET_PKI_DIR,
    KUBERNETES_DIR,
    ROLES,
    Role,
)
from labkit.errors import LabkitError, StepFailed

# To name owners the way `stat -c %U:%G` (and so the CIS benchmark) does.
PASSWD = "/etc/passwd"
GROUP = "/etc/group"

# Read with their contents (directories recursively).
ARCHIVED_PATHS = (
    KUBERNETES_DIR,
    KUBELET_CONFIG,
    KUBELET_INSTANCE_CONFIG,
    KUBELET_FLAGS_ENV,
    KUBELET_PKI_DIR,
    PASSWD,
    GROUP,
    # containerd's registry hosts: where the lab's registry is mirrored.
    "/etc/containerd/certs.d",
)
# Listed, their contents not read: after `kubeadm upgrade` its backups (a copy of etcd's
# data, the old manifests) are as large as etcd; only their names say what the upgrade did.
NOT_ARCHIVED = (f"{KUBEADM_TEMP_DIR}/*/*",)
# The directory `kubeadm upgrade` backs etcd's data up to before it writes etcd's manifest
# anew (cmd/kubeadm/app/phases/upgrade/staticpods.go, performEtcdStaticPodUpgrade).
ETCD_UPGRADE_BACKUP = f"{KUBEADM_TEMP_DIR}/kubeadm-backup-etcd-"
# Read for mode and owner only: etcd's data is neither small nor ours to copy.
ARCHIVED_WITHOUT_CONTENTS = (ETCD_DATA_DIR,)

# GNU tar exits 1 when a file changed while it was read (etcd, kubelet rotating its
# certificate): the archive is still complete enough to check.
_TAR_OK_EXIT_CODES = (0, 1)


def archive_command(extra_paths: Sequence[str] = ()) -> list[str]:
    """The command run inside a node; paths that do not exist are skipped, not errors.
    `extra_paths` are read with their contents too (a caller's own config files)."""
    # --dereference: kubelet-client-current.pem is a symlink to the dated certificate, and
    # the rules want the certificate. --no-recursion is positional in GNU tar: it only
    # applies to the paths after it.
    return [
        "tar", "-c", "-f", "-", "--ignore-failed-read", "--dereference",
        *(f"--exclude={path}" for path in NOT_ARCHIVED),
        *ARCHIVED_PATHS, *extra_paths, "--no-recursion", *ARCHIVED_WITHOUT_CONTENTS,
    ]  # fmt: skip


@dataclass(frozen=True)
class FileEntry:
    """One path of a node as the archive recorded it."""

    path: str
    mode: int
    uid: int
    gid: int
    data: bytes = b""
    is_dir: bool = False

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class NodeArtifacts:
    """Everything the node rules look at, keyed by absolute path."""

    node: str
    role: Role
    files: Mapping[str, FileEntry]
    read_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @classmethod
    def from_tar(
        cls, node: str, role: Role, tar_bytes: bytes, *, read_at: datetime | None = None
    ) -> NodeArtifacts:
        if role not in ROLES:
            raise LabkitError(f"node {node}: role {role!r} is not one of {ROLES}")
        files: dict[str, FileEntry] = {}
        with tarfile.open(fileobj=io.BytesIO(tar_bytes), mode="r:") as archive:
            for member in archive:
                entry = _entry(archive, member)
                files[entry.path] = entry
        return cls(node, role, files, read_at or datetime.now(UTC))

    def get(self, path: str) -> FileEntry | None:
        return self.files.get(path)

    @property
    def etcd_upgraded(self) -> bool:
        """Whether `kubeadm upgrade` wrote this node's etcd manifest (it backs etcd up first)."""
        return any(path.startswith(ETCD_UPGRADE_BACKUP) for path in self.files)

    def has(self, path: str) -> bool:
        return path in self.files

    def owner(self, entry: FileEntry) -> str:
        """`user:group` by name where the node's passwd and group files know the ids."""
        user = _names(self.get(PASSWD)).get(entry.uid, str(entry.uid))
        group = _names(self.get(GROUP)).get(entry.gid, str(entry.gid))
        return f"{user}:{group}"

    def under(self, directory: str) -> Iterator[FileEntry]:
        """Entries below a directory (not the directory itself), sorted by path."""
        prefix = directory.rstrip("/") + "/"
        for path in sorted(self.files):
            if path.startswith(prefix):
                yield self.files[path]


def _names(entry: FileEntry | None) -> dict[int, str]:
    """id -> name from a passwd or group file (name:x:id:...)."""
    names: dict[int, str] = {}
    for line in entry.text.splitlines() if entry else ():
        fields = line.split(":")
        if len(fields) > 2 and fields[2].isdigit():
            names.setdefault(int(fields[2]), fields[0])
    return names


def _entry(archive: tarfile.TarFile, member: tarfile.TarInfo) -> FileEntry:
    path = "/" + posixpath.normpath(member.name).lstrip("/")
    data = b""
    # tar stores a file it already archived under another name as a hard link to it.
    if member.isfile() or member.islnk():
        try:
            extracted = archive.extractfile(member)
        except KeyError:
            extracted = None
        data = extracted.read() if extracted else b""
    return FileEntry(
        path=path,
        mode=member.mode & 0o7777,
        uid=member.uid,
        gid=member.gid,
        data=data,
        is_dir=member.isdir(),
    )


# docker-py reads an exec's multiplexed stream from the socket beneath the buffered reader
# that parsed the HTTP headers; when the first output arrives with the headers (a fast `tar`
# on a busy host) those bytes are lost and the frames misparse: "117 is not a valid stream",
# or an archive that does not start with a tar header. Both are detected, so read again.
READ_ATTEMPTS = 3


def read_node_artifacts(
    container: Any, node: str, role: Role, *, extra_paths: Sequence[str] = ()
) -> NodeArtifacts:
    """Read a node's artifacts with one exec of `tar` (a docker SDK container object)."""
    errors: dict[str, str] = {}
    for attempt in range(1, READ_ATTEMPTS + 1):
        read_at = datetime.now(UTC)
        try:
            exit_code, (stdout, stderr) = container.exec_run(
                archive_command(extra_paths), demux=True
            )
        except ValueError as error:
            errors[f"attempt {attempt}"] = f"docker exec stream: {error}"
            continue
        if exit_code not in _TAR_OK_EXIT_CODES or not stdout:
            raise StepFailed(
                step="read-artifacts",
                reason=f"`tar` of kubeadm's files exited {exit_code}",
                node=node,
                evidence={"tar stderr": (stderr or b"").decode("utf-8", errors="replace")},
            )
        try:
            return NodeArtifacts.from_tar(node, role, stdout, read_at=read_at)
        except tarfile.TarError as error:
            errors[f"attempt {attempt}"] = f"not a tar archive: {error}"
    raise StepFailed(
        step="read-artifacts",
        reason=f"the `tar` output could not be read in {READ_ATTEMPTS} attempts",
        node=node,
        evidence=errors,
    )
