"""capwrap, the runc wrapper registered in dockerd as naming.WRAPPED_RUNTIME.

The same static binary serves three places: the host's dockerd, the node image (for the
containerd nested in each node, whose bounding set is as short as the host's), and the
probe image `labkit/probe:<hash>` that shows whether privileged containers start.
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

# Where setup.sh installs the binary that /etc/docker/daemon.json names.
INSTALLED_RUNTIME_PATH = Path("/usr/local/libexec/labkit/labkit-runc")
PROBE_IMAGE_REPOSITORY = "labkit/probe"
BINARY_NAME = "labkit-runc"
OFFICIAL_GO = Path("/usr/local/go/bin/go")


def capwrap_source_dir() -> Path:
    return Path(__file__).resolve().parent / "capwrap"


def capwrap_sources() -> list[Path]:
    """The files the binary is built from; tests are left out so that editing one does
    not rebuild the binary and re-tag the probe image."""
    source_dir = capwrap_source_dir()
    go_files = [p.name for p in source_dir.glob("*.go") if not p.name.endswith("_test.go")]
    names = ["go.mod", *go_files]
    return [source_dir / name for name in sorted(names)]


def capwrap_source_hash() -> str:
    """sha256 of the `sha256sum` listing of the sources, as setup.sh computes it."""
    listing = "".join(
        f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.name}\n"
        for path in capwrap_sources()
    )
    return hashlib.sha256(listing.encode()).hexdigest()


def probe_image() -> str:
    return f"{PROBE_IMAGE_REPOSITORY}:{capwrap_source_hash()}"


def go_binary() -> str:
    found = shutil.which("go")
    # /usr/local/go is where the official tarball goes; CI shells often lack it on PATH.
    if not found and OFFICIAL_GO.exists():
        found = str(OFFICIAL_GO)
    if not found:
        raise LabkitError("Go is needed to build capwrap and was not found; run `make host`")
    return found


def build_capwrap() -> Path:
    """The static capwrap binary, built once per source hash into the cache."""
    binary = cache_dir() / "capwrap" / capwrap_source_hash() / BINARY_NAME
    if binary.is_file():
        return binary
    binary.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(dir=binary.parent, prefix=f".{BINARY_NAME}-")
    os.close(fd)
    env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-buildvcs=false", "GOTOOLCHAIN": "local"}
    try:
        result = subprocess.run(
            [go_binary(), "build", "-trimpath", "-o", partial, "."],
            cwd=capwrap_source_dir(),
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise StepFailed(
                operation="build capwrap",
                reason=f"go build exited {result.returncode}",
                evidence={"go build": result.stdout + result.stderr},
            )
        os.chmod(partial, 0o755)
        os.replace(partial, binary)
    finally:
        Path(partial).unlink(missing_ok=True)
    return binary
