"""Debian root filesystems made with debootstrap from Debian's own packages.

The result is a tarball in the cache, keyed by the suite, the package list and the
mirror's package indexes, so it is rebuilt only when Debian's packages could differ.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from labkit.errors import LabkitError, StepFailed
from labkit.naming import cache_dir
from labkit.pipeline import Progress
from labkit.versions import DEBIAN_SUITE

APT_SOURCES = Path("/etc/apt/sources.list.d")
APT_LISTS = Path("/var/lib/apt/lists")
DEFAULT_MIRROR = "http://deb.debian.org/debian"

# What a node needs to run systemd, containerd, the kubelet and kubeadm's preflight.
NODE_PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "containerd",
    "runc",
    "containernetworking-plugins",
    "iptables",
    "nftables",
    "conntrack",
    "socat",
    "ethtool",
    "ebtables",
    "iproute2",
    "kmod",
    "util-linux",
    "mount",
    "procps",
    "ca-certificates",
    "libseccomp2",
    "bash",
    "tar",
    "less",
    "curl",
    "dnsutils",
    "ipset",
)
# What kube-proxy and flanneld call: the iptables/nft tools and conntrack.
NETWORK_TOOL_PACKAGES = (
    "iptables",
    "nftables",
    "conntrack",
    "ipset",
    "iproute2",
    "kmod",
    "ca-certificates",
)

# The toolbox: what a probe pod needs to resolve names and reach other pods.
TOOLBOX_PACKAGES = (
    "curl",
    "dnsutils",
    "iproute2",
    "iputils-ping",
    "netcat-openbsd",
    "socat",
    "procps",
    "ca-certificates",
)


def mirror() -> str:
    """The Debian mirror this host's apt uses (the only one it can reach)."""
    for sources in sorted(APT_SOURCES.glob("*.sources")):
        match = re.search(r"^URIs:\s*(\S+)", sources.read_text(), re.MULTILINE)
        if match and "security" not in match.group(1):
            return match.group(1)
    return DEFAULT_MIRROR


def _index_fingerprint() -> str:
    """The Release files' Date lines: they change whenever a package could change."""
    dates = []
    for release in sorted(APT_LISTS.glob("*InRelease")):
        match = re.search(r"^Date: (.+)$", release.read_text(errors="replace"), re.MULTILINE)
        dates.append(f"{release.name}={match.group(1) if match else '?'}")
    return ";".join(dates)


def rootfs_key(packages: tuple[str, ...]) -> str:
    digest = hashlib.sha256()
    for part in (DEBIAN_SUITE, mirror(), " ".join(sorted(packages)), _index_fingerprint()):
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()[:16]


def debian_rootfs(name: str, packages: tuple[str, ...], progress: Progress) -> Path:
    """A tarball of a bookworm minbase root filesystem with `packages` installed."""
    if shutil.which("debootstrap") is None:
        raise LabkitError("debootstrap is missing: run `make host` (it installs it)")
    target = cache_dir() / "rootfs" / f"{name}-{rootfs_key(packages)}.tar"
    if target.exists():
        progress.say(f"   {name} root filesystem: cached ({target.name})")
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"labkit-{name}-", dir=target.parent) as work:
        root = Path(work) / "root"
        command = [
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(packages)}",
            DEBIAN_SUITE,
            str(root),
            mirror(),
        ]
        progress.say(f"   debootstrap {DEBIAN_SUITE} with {len(packages)} packages ({name})")
        _run_logged(command, progress, operation=f"debootstrap {name}")
        _trim(root)
        partial = target.with_suffix(".partial")
        _run_logged(
            ["tar", "-C", str(root), "--numeric-owner", "-cf", str(partial), "."],
            progress,
            operation=f"pack {name} root filesystem",
        )
        partial.rename(target)
    return target


def _trim(root: Path) -> None:
    """Drop what only debootstrap needed: downloaded packages and apt indexes."""
    for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for path in (root / leftover).glob("*"):
            if path.is_file():
                path.unlink()
    for path in (root / "usr/share/doc", root / "usr/share/man", root / "usr/share/locale"):
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True, exist_ok=True)


def _run_logged(command: list[str], progress: Progress, *, operation: str) -> None:
    progress.detail("$ " + " ".join(command))
    result = subprocess.run(command, capture_output=True, text=True)
    for line in (result.stdout + result.stderr).splitlines():
        progress.detail(line)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
        raise StepFailed(
            operation=operation,
            reason=f"{command[0]} exited {result.returncode}",
            evidence={"output (tail)": tail},
        )
