"""Debian root filesystems made with debootstrap from Debian's own packages.

The result is a tarball in the cache, keyed by the suite, the package list and the
mirror's package indexes, so it is rebuilt only when Debian's packages could differ.
"""

from __future__ import annotations

import functools
import hashlib
import re
import shutil
import subprocess
import tempfile
import urllib.request
from pathlib import Path

from labkit.errors import LabkitError, StepFailed
from labkit.naming import cache_dir
from labkit.pipeline import Progress
from labkit.versions import DEBIAN_SUITE

APT_SOURCES = Path("/etc/apt/sources.list.d")
DEFAULT_MIRROR = "http://deb.debian.org/debian"

# What a node needs to run systemd, containerd, the kubelet and kubeadm's preflight.
NODE_PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
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
    "bind9-dnsutils",
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
    "bind9-dnsutils",
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


@functools.cache
def suite_date() -> str | None:
    """The Date of the suite's Release file on the mirror: it changes whenever a package
    could change. None when the mirror does not answer (then the newest cached build of
    the same packages serves)."""
    url = f"{mirror()}/dists/{DEBIAN_SUITE}/InRelease"
    try:
        with urllib.request.urlopen(url, timeout=20) as response:
            head = response.read(4096).decode(errors="replace")
    except OSError:
        return None
    match = re.search(r"^Date: (.+)$", head, re.MULTILINE)
    return match.group(1).strip() if match else None


def packages_key(packages: tuple[str, ...]) -> str:
    digest = hashlib.sha256()
    for part in (DEBIAN_SUITE, mirror(), " ".join(sorted(packages))):
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()[:8]


def rootfs_key(packages: tuple[str, ...]) -> str:
    """`packages_key` and the suite's date: rebuilt only when Debian's packages could differ."""
    date = suite_date() or "mirror-unreachable"
    return f"{packages_key(packages)}-{hashlib.sha256(date.encode()).hexdigest()[:8]}"


def cached_target(directory: Path, name: str, packages: tuple[str, ...], suffix: str) -> Path:
    """Where the build of `packages` for the mirror's current suite goes; with the mirror
    out of reach, the newest build of the same packages, if any (nothing could be
    downloaded anyway)."""
    target = directory / f"{name}-{rootfs_key(packages)}{suffix}"
    if suite_date() is None:
        cached = sorted(
            directory.glob(f"{name}-{packages_key(packages)}-*{suffix}"),
            key=lambda path: path.stat().st_mtime,
        )
        if cached:
            return cached[-1]
        raise LabkitError(
            f"the Debian mirror {mirror()} does not answer ({DEBIAN_SUITE}'s InRelease) and "
            f"no {name} build is cached; check the host's network or apt sources"
        )
    return target


def debian_rootfs(name: str, packages: tuple[str, ...], progress: Progress) -> Path:
    """A tarball of a minbase root filesystem of DEBIAN_SUITE with `packages` installed."""
    if shutil.which("debootstrap") is None:
        raise LabkitError("debootstrap is missing: run `make host` (it installs it)")
    target = cached_target(cache_dir() / "rootfs", name, packages, ".tar")
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
