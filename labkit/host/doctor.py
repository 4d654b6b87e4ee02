"""`labkit doctor`: whether this host can bring labs up, one small check per concern."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import docker
from docker import DockerClient

from labkit.errors import LabkitError
from labkit.host.engine import docker_client, engine_address, node_runtime
from labkit.host.kernel import INOTIFY_MINIMUMS, cgroup_mode, inotify_limits
from labkit.host.wrapper import probe_image
from labkit.naming import cache_dir, managed_labels
from labkit.results import Result
from labkit.versions import DEFAULT_VERSION, NODE_IMAGE_REPOSITORY

GIB = 1024**3
# A node image is about 1 GiB and each node container writes a few hundred MiB of
# control-plane images; the cache holds Kubernetes binaries per version.
MINIMUM_FREE_DOCKER_ROOT = 10 * GIB
MINIMUM_FREE_CACHE = 5 * GIB
# Long enough for `docker exec`; short enough that a killed doctor leaves nothing behind.
PROBE_LIFETIME_SECONDS = 120

FIX_HOST = "run `make host` (labkit/host/setup.sh)"


@dataclass(frozen=True)
class DoctorCheck:
    name: str
    ok: bool
    detail: str
    fix: str = ""


@dataclass(frozen=True, repr=False)
class DoctorReport(Result):
    """Every check of the host; `str()` is what `labkit doctor` prints, `as_json()` what its
    `--json` prints. Iterating it gives the checks, as the list it used to be."""

    checks: tuple[DoctorCheck, ...]

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def failed(self) -> list[DoctorCheck]:
        return [check for check in self.checks if not check.ok]

    def __iter__(self) -> Iterator[DoctorCheck]:
        return iter(self.checks)

    def __len__(self) -> int:
        return len(self.checks)

    def __str__(self) -> str:
        width = max([len("CHECK"), *(len(check.name) for check in self.checks)])
        lines = [f"{'CHECK':<{width}}  STATUS  DETAIL"]
        lines += [
            f"{check.name:<{width}}  {'OK' if check.ok else 'FAIL':<6}  {check.detail}"
            for check in self.checks
        ]
        if self.failed:
            lines += ["", "To fix:"]
            lines += [
                f"  {check.name}: {check.fix or 'see the detail above'}" for check in self.failed
            ]
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": self.as_json()}

    def as_json(self) -> list[dict[str, Any]]:
        # `labkit doctor --json` has always printed the list of checks alone.
        return [asdict(check) for check in self.checks]

    def _headline(self) -> str:
        return f"{len(self.checks)} checks, {len(self.failed)} failed"


def doctor_checks() -> list[DoctorCheck]:
    """Every check, in the order a user would fix them."""
    checks: list[DoctorCheck] = []
    try:
        client: DockerClient | None = docker_client(timeout=60)
    except LabkitError as error:
        client = None
        checks.append(DoctorCheck("engine", False, str(error), FIX_HOST))
    if client is not None:
        checks.append(check_engine(client))
    checks.append(check_cgroups())
    checks.append(_with_engine("privileged containers", client, check_privileged))
    checks.append(check_inotify())
    checks.append(_with_engine("disk (docker root)", client, check_docker_disk))
    checks.append(check_disk("disk (cache)", cache_dir(), MINIMUM_FREE_CACHE))
    checks.append(_with_engine("node images", client, check_node_images))
    return checks


def _with_engine(
    name: str, client: DockerClient | None, check: Callable[[DockerClient], DoctorCheck]
) -> DoctorCheck:
    if client is None:
        return DoctorCheck(name, False, "not checked: no Docker engine answers", FIX_HOST)
    try:
        return check(client)
    except docker.errors.DockerException as error:
        return DoctorCheck(name, False, f"the engine failed: {error}", FIX_HOST)


def check_engine(client: DockerClient) -> DoctorCheck:
    version = client.version()
    info = client.info()
    detail = (
        f"Docker {version.get('Version')} (API {version.get('ApiVersion')}) at "
        f"{engine_address()}, storage {info.get('Driver')}, "
        f"cgroup driver {info.get('CgroupDriver')}"
    )
    return DoctorCheck("engine", True, detail)


def check_cgroups(root: Path = Path("/sys/fs/cgroup")) -> DoctorCheck:
    if not root.is_dir():
        return DoctorCheck("cgroups", False, f"{root} is missing", "mount cgroups on the host")
    mode = cgroup_mode(root)
    detail = {
        "v2": "v2 (unified)",
        "hybrid": "hybrid (v1 controllers, cgroup2 at unified/)",
        "v1": "v1",
    }[mode]
    if mode != "v2":
        # KubeletConfiguration needs failCgroupV1: false from v1.35 on such hosts.
        detail += "; kubelet v1.35+ needs failCgroupV1: false"
    return DoctorCheck("cgroups", True, detail)


def check_privileged(client: DockerClient) -> DoctorCheck:
    """Starts the probe image privileged and execs into it, as a node container is used."""
    name = "privileged containers"
    image = probe_image()
    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        return DoctorCheck(name, False, f"probe image {image} is missing", FIX_HOST)
    try:
        runtime = node_runtime(client)
    except LabkitError as error:
        return DoctorCheck(name, False, str(error), FIX_HOST)
    container = client.containers.run(
        image,
        ["sleep", str(PROBE_LIFETIME_SECONDS)],
        entrypoint=["/capwrap"],
        privileged=True,
        runtime=runtime,
        detach=True,
        auto_remove=True,
        labels=managed_labels(),
    )
    try:
        exit_code, output = container.exec_run(["/capwrap", "probe"])
    finally:
        _remove(container)
    lacking = output.decode(errors="replace").strip()
    if exit_code != 0:
        return DoctorCheck(name, False, f"docker exec into the probe failed: {lacking}", FIX_HOST)
    through = f"through {runtime}" if runtime else "with docker's default runtime"
    return DoctorCheck(name, True, f"run and exec work {through}; containers lack: {lacking}")


def _remove(container: docker.models.containers.Container) -> None:
    try:
        container.remove(force=True)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as error:
        # 409: auto-removal got there first.
        if error.status_code != 409:
            raise


def check_inotify(proc: Path = Path("/proc")) -> DoctorCheck:
    limits = inotify_limits(proc)
    low = {name: value for name, value in limits.items() if value < INOTIFY_MINIMUMS[name]}
    detail = ", ".join(f"{name}={value}" for name, value in limits.items())
    if not low:
        return DoctorCheck("inotify", True, detail)
    wanted = " ".join(f"fs.inotify.{name}={INOTIFY_MINIMUMS[name]}" for name in low)
    return DoctorCheck(
        "inotify", False, f"{detail} (below {wanted})", f"{FIX_HOST} or `sysctl -w {wanted}`"
    )


def check_docker_disk(client: DockerClient) -> DoctorCheck:
    root = Path(client.info().get("DockerRootDir") or "/var/lib/docker")
    return check_disk("disk (docker root)", root, MINIMUM_FREE_DOCKER_ROOT)


def check_disk(name: str, path: Path, minimum: int) -> DoctorCheck:
    existing = next((p for p in (path, *path.parents) if p.exists()), Path("/"))
    free = shutil.disk_usage(existing).free
    detail = f"{free / GIB:.1f} GiB free at {path}"
    if free >= minimum:
        return DoctorCheck(name, True, detail)
    return DoctorCheck(
        name,
        False,
        f"{detail}, below {minimum / GIB:.0f} GiB",
        f"free space on the filesystem of {existing}",
    )


def check_node_images(client: DockerClient) -> DoctorCheck:
    images = client.images.list(name=NODE_IMAGE_REPOSITORY)
    tags = sorted(tag for image in images for tag in image.tags)
    if not tags:
        return DoctorCheck(
            "node images", False, f"no {NODE_IMAGE_REPOSITORY} image", "run `make image`"
        )
    default = DEFAULT_VERSION.node_image
    note = "" if default in tags else f" (the default {default} is not among them)"
    return DoctorCheck("node images", True, ", ".join(tags) + note)
