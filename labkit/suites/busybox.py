"""busybox for the busybox test image: Debian's own source and static configuration, with
ash importing every environment variable, as upstream's busybox does.

Upstream busybox's ash passes variables whose names are not shell names (`data-1`, what a
ConfigMap's envFrom gives) on to its children, and the Conformance specs "ConfigMap/Secrets
should be consumable via the environment" read them from `sh -c env`. Debian reverts that
(the "Sanitise environment variable names on entry" behaviour) and keeps upstream's
behaviour behind its own switch, FEATURE_DI_ENV_HACK, which only its installer's busybox
(a udeb, which the mirror here does not serve) turns on. So busybox is built here from
Debian's source package with the static flavour's configuration plus that switch: ash stays
`sh`, with ash's own wording of errors ("/bin/sh: can't create /file: Read-only file
system", which the Kubelet read-only root filesystem spec compares).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from labkit.errors import LabkitError, StepFailed
from labkit.naming import cache_dir
from labkit.nodeimage import rootfs
from labkit.pipeline import Progress, heartbeat
from labkit.versions import DEBIAN_SUITE

SOURCE_PACKAGE = "busybox"
# Debian's busybox source keeps one configuration per flavour; busybox-static's is this.
FLAVOUR_CONFIG = "debian/config/pkg/static"
CONFIG_CHANGES = {"CONFIG_FEATURE_DI_ENV_HACK": "y"}
# Raise when busybox is built differently in a way the key does not show.
BUILD_REVISION = 1
BUILD_TOOLS = ("dpkg-source", "make", "gcc", "patch")
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"


def busybox_key() -> str:
    """Debian's indexes change whenever its busybox source could: the same key as its
    root filesystems, plus what labkit changes in the configuration."""
    digest = hashlib.sha256()
    changes = ",".join(f"{name}={value}" for name, value in sorted(CONFIG_CHANGES.items()))
    for part in (rootfs.rootfs_key((SOURCE_PACKAGE,)), changes, str(BUILD_REVISION)):
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()[:16]


def busybox(progress: Progress) -> Path:
    """The static busybox binary, built once per key into the cache."""
    target = cache_dir() / "bin" / f"busybox-{DEBIAN_SUITE}-{busybox_key()}"
    if target.exists():
        progress.detail(f"busybox: cached ({target.name})")
        return target
    missing = [tool for tool in BUILD_TOOLS if shutil.which(tool) is None]
    if missing:
        raise LabkitError(
            f"building the busybox test image needs {', '.join(missing)}: "
            "apt-get install build-essential dpkg-dev"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="labkit-busybox-", dir=target.parent) as work:
        source = fetch_source(Path(work), progress)
        configure(source)
        with heartbeat(progress, "building busybox from Debian's source"):
            _run(["make", f"-j{os.cpu_count() or 1}", "busybox"], source, "build busybox")
        partial = target.with_suffix(".partial")
        shutil.copy2(source / "busybox", partial)
        partial.rename(target)
    progress.say(f"   busybox built from Debian's source ({target.name})")
    return target


def fetch_source(work: Path, progress: Progress) -> Path:
    """`apt-get source` through a private source list, so the host's apt is left as it is;
    dpkg-source unpacks it with Debian's patches applied."""
    sources = work / "sources.list.d"
    sources.mkdir()
    (sources / "labkit-src.sources").write_text(
        f"Types: deb-src\nURIs: {rootfs.mirror()}\nSuites: {DEBIAN_SUITE}\n"
        f"Components: main\nSigned-By: {KEYRING}\n"
    )
    (work / "lists" / "partial").mkdir(parents=True)
    (work / "cache" / "archives" / "partial").mkdir(parents=True)
    apt = [
        "apt-get",
        "-q",
        f"-oDir::Etc::SourceParts={sources}",
        "-oDir::Etc::SourceList=/dev/null",
        f"-oDir::State::Lists={work / 'lists'}",
        f"-oDir::Cache={work / 'cache'}",
        # The private directories belong to root; apt's _apt user could not write them.
        "-oAPT::Sandbox::User=root",
    ]
    progress.detail(f"busybox: apt-get source {SOURCE_PACKAGE} ({DEBIAN_SUITE})")
    _run([*apt, "update"], work, "apt-get update (source index)")
    _run([*apt, "source", "--download-only", SOURCE_PACKAGE], work, "apt-get source busybox")
    (dsc,) = work.glob(f"{SOURCE_PACKAGE}_*.dsc")
    _run(["dpkg-source", "-x", dsc.name, "source"], work, "dpkg-source -x busybox")
    return work / "source"


def with_changes(config: str, changes: dict[str, str]) -> str:
    r"""A kconfig `.config` with each option of `changes` set, whether it was set or unset.

    >>> with_changes("# CONFIG_A is not set\nCONFIG_B=y\n", {"CONFIG_A": "y"})
    'CONFIG_B=y\nCONFIG_A=y\n'
    """
    lines = config.splitlines()
    for name, value in changes.items():
        lines = [line for line in lines if not _sets(line, name)] + [f"{name}={value}"]
    return "\n".join(lines) + "\n"


def configure(source: Path) -> None:
    config = with_changes((source / FLAVOUR_CONFIG).read_text(), CONFIG_CHANGES)
    (source / ".config").write_text(config)
    # oldconfig asks about options the file does not settle; an empty answer takes the default.
    answers = subprocess.run(
        ["make", "oldconfig"], cwd=source, input="\n" * 2000, capture_output=True, text=True
    )
    if answers.returncode != 0:
        raise StepFailed(
            operation="configure busybox",
            reason=f"make oldconfig exited {answers.returncode}",
            evidence={"output (tail)": (answers.stdout + answers.stderr)[-2000:]},
        )
    config = (source / ".config").read_text().splitlines()
    for name, value in CONFIG_CHANGES.items():
        if f"{name}={value}" not in config:
            raise StepFailed(operation="configure busybox", reason=f"{name} did not stay {value}")


def _sets(line: str, name: str) -> bool:
    return line.startswith(f"{name}=") or line == f"# {name} is not set"


def _run(command: list[str], cwd: Path, operation: str) -> None:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise StepFailed(
            operation=operation,
            reason=f"{command[0]} exited {result.returncode}",
            evidence={"output (tail)": (result.stdout + result.stderr)[-3000:]},
        )
