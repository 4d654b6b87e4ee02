"""A node's container options in the lab spec: `resources` (Docker limits the kubelet
follows), `extraPortMappings` and `extraMounts` (as kind offers them).

What only the spec and the host's files can tell is checked here; whether a host port is
free is checked by the bring-up (`labkit.lab.port_mappings`), as a saved spec is read again
while its lab holds its ports.

>>> parse_memory("2Gi", "resources.memory")
2147483648
"""

from __future__ import annotations

import ipaddress
import os
import posixpath
import re
from collections.abc import Mapping, Sequence
from decimal import ROUND_CEILING, Decimal
from pathlib import Path
from typing import Any

from labkit.spec.fields import _at, _FieldError, _fields, _get, _type_error, shown
from labkit.spec.types import HostMount, PortMapping, Resources

_RESOURCE_FIELDS = ("cpus", "memory")
_PORT_FIELDS = ("containerPort", "hostPort", "listenAddress", "protocol")
_MOUNT_FIELDS = ("hostPath", "containerPath", "readOnly")
PROTOCOLS = ("TCP", "UDP")
DEFAULT_LISTEN_ADDRESS = "127.0.0.1"
# Docker's smallest limits: NanoCPUs of 0.01 CPU, and 6 MiB of memory (linuxMinMemory).
MIN_CPUS = Decimal("0.01")
MIN_MEMORY = 6 * 1024 * 1024
# Where labkit itself mounts something into every node: a mount there would hide it.
RESERVED_CONTAINER_PATHS = ("/", "/var", "/tmp", "/run", "/run/lock", "/lib/modules")
# The node's own system: a host folder mounted over one of them would be written by the
# node's kubeadm and packages (hostPath /etc on containerPath /etc: the host's /etc).
NODE_SYSTEM_PATHS = ("/etc", "/usr", "/proc", "/sys", "/dev", "/boot", "/bin", "/sbin", "/lib")
# Host folders a read-write mount would hand to a node (and every privileged pod in it)
# to change: the host's system and kernel interfaces. `readOnly: true` lets them in.
HOST_SYSTEM_PATHS = ("/etc", "/usr", "/boot", "/proc", "/sys", "/dev", "/bin", "/sbin", "/lib")

# Kubernetes' quantity suffixes (k8s.io/apimachinery resource.Quantity), binary and decimal.
_MEMORY_UNITS = {
    "": 1,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
}
_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$")
_CPU_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m)?$")


def host_capacity() -> tuple[int, int]:
    """The host's CPUs and memory in bytes: what a node container's /proc shows, and the
    most Docker lets one container use."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return os.cpu_count() or 1, memory


def parse_resources(data: Any, path: str) -> Resources | None:
    if data is None:
        return None
    section = _fields(data, path, _RESOURCE_FIELDS)
    cpus = section.get("cpus")
    memory = section.get("memory")
    host_cpus, host_memory = host_capacity()
    resources = Resources(
        cpus=None if cpus is None else parse_cpus(cpus, _at(path, "cpus"), host_cpus),
        memory=None if memory is None else parse_memory(memory, _at(path, "memory"), host_memory),
    )
    return resources if resources != Resources() else None


def parse_cpus(value: Any, path: str, host_cpus: int | None = None) -> float:
    """A number of CPUs (1.5) or a Kubernetes CPU quantity ("1500m")."""
    expected = "a number of CPUs such as 1.5 or a quantity such as 1500m"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _type_error(path, expected, value)
    match = _CPU_QUANTITY.match(str(value)) if isinstance(value, str) else None
    if isinstance(value, str) and not match:
        raise _FieldError(path, f"{shown(value)} is not {expected}")
    cpus = Decimal(match[1]) / (1000 if match[2] else 1) if match else Decimal(str(value))
    if not cpus.is_finite():  # YAML's .nan and .inf are floats
        raise _FieldError(path, f"{shown(value)} is not {expected}")
    if cpus < MIN_CPUS:
        raise _FieldError(
            path, f"{shown(value)} is too small; Docker limits a container to 0.01 CPU or more"
        )
    if host_cpus is not None and cpus > host_cpus:
        raise _FieldError(
            path,
            f"{shown(value)} is more CPUs than this host has ({host_cpus}); "
            f"use at most {host_cpus}",
        )
    return float(cpus)


def parse_memory(value: Any, path: str, host_memory: int | None = None) -> int:
    """Bytes from a plain number of bytes or a quantity as Kubernetes writes them (2Gi, 512Mi,
    1G, 500M)."""
    expected = "bytes or a quantity such as 2Gi, 512Mi, 2G or 500M"
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise _type_error(path, expected, value)
    match = _QUANTITY.match(str(value))
    if not match:
        raise _FieldError(path, f"{shown(value)} is not {expected}")
    size = Decimal(match[1]) * _MEMORY_UNITS[match[2] or ""]
    memory = int(size.to_integral_value(rounding=ROUND_CEILING))
    if memory < MIN_MEMORY:
        raise _FieldError(path, f"{shown(value)} is too small; Docker needs at least 6Mi")
    if host_memory is not None and memory > host_memory:
        raise _FieldError(
            path,
            f"{shown(value)} is more memory than this host has ({host_memory // 2**20}Mi); "
            "a limit above it limits nothing",
        )
    return memory


def parse_port_mappings(data: Any, path: str) -> tuple[PortMapping, ...]:
    if data is None:
        return ()
    if not isinstance(data, list):
        raise _type_error(
            path, "a list of {containerPort, hostPort, listenAddress, protocol}", data
        )
    return tuple(_port_mapping(item, f"{path}[{index}]") for index, item in enumerate(data))


def _port_mapping(data: Any, path: str) -> PortMapping:
    entry = _fields(data, path, _PORT_FIELDS)
    ports = {key: _port(entry, key, path) for key in ("containerPort", "hostPort")}
    address = _get(entry, "listenAddress", str, DEFAULT_LISTEN_ADDRESS, path)
    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise _FieldError(
            _at(path, "listenAddress"), f"{shown(address)} is not an IP address such as 127.0.0.1"
        ) from None
    protocol = _get(entry, "protocol", str, PROTOCOLS[0], path)
    if protocol not in PROTOCOLS:
        raise _FieldError(
            _at(path, "protocol"), f"{shown(protocol)} is not supported; expected TCP or UDP"
        )
    return PortMapping(ports["containerPort"], ports["hostPort"], address, protocol)


def _port(entry: Mapping[str, Any], key: str, path: str) -> int:
    port = _get(entry, key, int, None, path)
    if port is None:
        raise _FieldError(_at(path, key), "required: a port from 1 to 65535")
    if not 1 <= port <= 65535:
        raise _FieldError(_at(path, key), f"{port} is out of range; expected 1 to 65535")
    return port


def check_host_ports_distinct(mappings: Sequence[tuple[str, PortMapping]]) -> None:
    """No two mappings of the lab claim one host port: `mappings` are (field path, mapping)."""
    for index, (path, mapping) in enumerate(mappings):
        for other_path, other in mappings[:index]:
            if mappings_clash(mapping, other):
                raise _FieldError(
                    _at(path, "hostPort"),
                    f"{mapping.listen_address}:{mapping.host_port}/{mapping.protocol} is "
                    f"already mapped by {other_path}; give each mapping its own host port",
                )


def mappings_clash(one: PortMapping, other: PortMapping) -> bool:
    """Whether the host could not bind both: same port and protocol, and the same address
    or one of them every address."""
    if (one.host_port, one.protocol) != (other.host_port, other.protocol):
        return False
    addresses = {
        ipaddress.ip_address(one.listen_address),
        ipaddress.ip_address(other.listen_address),
    }
    return len(addresses) == 1 or any(a.is_unspecified for a in addresses)


def parse_mounts(data: Any, path: str, base_dir: Path) -> tuple[HostMount, ...]:
    if data is None:
        return ()
    if not isinstance(data, list):
        raise _type_error(path, "a list of {hostPath, containerPath, readOnly}", data)
    mounts = tuple(_mount(item, f"{path}[{index}]", base_dir) for index, item in enumerate(data))
    seen: dict[str, str] = {}
    for index, mount in enumerate(mounts):
        where = f"{path}[{index}]"
        if mount.container_path in seen:
            raise _FieldError(
                f"{where}.containerPath",
                f"{mount.container_path} is already mounted by {seen[mount.container_path]}",
            )
        seen[mount.container_path] = where
    return mounts


def _mount(data: Any, path: str, base_dir: Path) -> HostMount:
    entry = _fields(data, path, _MOUNT_FIELDS)
    text = _get(entry, "hostPath", str, None, path)
    if not text:
        raise _FieldError(_at(path, "hostPath"), "required: a file or folder of this host")
    given = base_dir / Path(text).expanduser()
    try:
        # What Docker will bind: `..` and every symbolic link resolved.
        host_path = given.resolve(strict=True)
    except (OSError, RuntimeError):
        raise _FieldError(
            _at(path, "hostPath"),
            f"{shown(str(given.absolute()))} does not exist; create it or fix the path",
        ) from None
    container = _container_path(_get(entry, "containerPath", str, None, path), path)
    read_only = entry.get("readOnly", False)
    if not isinstance(read_only, bool):
        raise _type_error(_at(path, "readOnly"), "true or false", read_only)
    system = _within(str(host_path), HOST_SYSTEM_PATHS)
    if not read_only and (host_path == Path("/") or system):
        raise _FieldError(
            _at(path, "hostPath"),
            f"{shown(text)} ({host_path}) is the host's {system or 'root'} or in it: a "
            "read-write mount lets the node change the host's system; set `readOnly: true` "
            "or mount another folder",
        )
    return HostMount(host_path, container, read_only)


def _container_path(text: str | None, path: str) -> str:
    where = _at(path, "containerPath")
    if not text or not text.startswith("/"):
        expected = "an absolute path in the node, such as /data"
        raise _FieldError(where, f"{shown(text)} is not {expected}")
    # normpath keeps a leading `//` (POSIX leaves its meaning open); Docker and Linux read
    # it as `/`.
    container = "/" + posixpath.normpath(text).lstrip("/")
    if container in RESERVED_CONTAINER_PATHS:
        raise _FieldError(
            where,
            f"{container} is where labkit mounts the node's own "
            f"filesystem ({', '.join(RESERVED_CONTAINER_PATHS)}); mount below another folder",
        )
    if container in NODE_SYSTEM_PATHS:
        raise _FieldError(
            where,
            f"{container} is a system folder of the node ({', '.join(NODE_SYSTEM_PATHS)}); "
            "its kubeadm and packages write there: mount below it or elsewhere",
        )
    return container


def _within(path: str, folders: Sequence[str]) -> str | None:
    """The folder of `folders` that `path` is or lies in, if any."""
    return next((f for f in folders if path == f or path.startswith(f + "/")), None)
