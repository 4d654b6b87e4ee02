"""The host labkit runs on: its Docker engine, what its kernel grants, and the capwrap
runtime that makes privileged node containers work where the bounding set is short.

`setup.sh` next to this file prepares a host (`make host`); this package reads the result.
"""

from __future__ import annotations

from labkit.host.doctor import DoctorCheck, DoctorReport, doctor_checks
from labkit.host.engine import docker_client, engine_address, node_runtime
from labkit.host.kernel import cgroup_mode, missing_capabilities
from labkit.host.wrapper import (
    INSTALLED_RUNTIME_PATH,
    build_capwrap,
    capwrap_source_dir,
    capwrap_source_hash,
    probe_image,
)

__all__ = [
    "INSTALLED_RUNTIME_PATH",
    "DoctorCheck",
    "DoctorReport",
    "build_capwrap",
    "capwrap_source_dir",
    "capwrap_source_hash",
    "cgroup_mode",
    "docker_client",
    "doctor_checks",
    "engine_address",
    "missing_capabilities",
    "node_runtime",
    "probe_image",
]
