"""Whether the host ports a lab spec maps (`nodes.<name>.extraPortMappings`) are free, checked
when the lab is brought up, before anything is created; the spec checks everything else.

>>> spec = LabSpec.from_dict({"name": "demo", "workers": 1})
>>> check_port_mappings_free(spec, set())
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable, Collection, Iterator

from labkit.errors import LabkitError
from labkit.spec import LabSpec, PortMapping

# Why a port cannot be had, or None when binding it works.
PortProbe = Callable[[PortMapping], str | None]


def claimed_host_ports(spec: LabSpec) -> set[int]:
    """Every host port the spec maps, on any address (the API port must avoid them)."""
    return {mapping.host_port for _, mapping in _mappings(spec)}


def check_port_mappings_free(
    spec: LabSpec, published: Collection[int], *, probe: PortProbe | None = None
) -> None:
    """Refuse, naming the field, a mapping whose host port another container publishes
    (even a stopped one, which takes it back when it starts) or that the host cannot bind."""
    probe = probe or bind_problem
    for path, mapping in _mappings(spec):
        if mapping.host_port in published:
            raise LabkitError(
                f"{spec.source}: {path}.hostPort: {mapping.host_port} is published by another "
                "Docker container (`docker ps -a --filter publish=PORT` finds it); choose "
                "another host port"
            )
        problem = probe(mapping)
        if problem:
            field = "listenAddress" if problem == not_this_hosts(mapping) else "hostPort"
            raise LabkitError(f"{spec.source}: {path}.{field}: {problem}")


def bind_problem(mapping: PortMapping) -> str | None:
    """Bind the port as docker-proxy would (SO_REUSEADDR, so a port in TIME_WAIT is free)."""
    family = socket.AF_INET6 if ":" in mapping.listen_address else socket.AF_INET
    kind = socket.SOCK_DGRAM if mapping.protocol == "UDP" else socket.SOCK_STREAM
    endpoint = f"{mapping.listen_address}:{mapping.host_port}/{mapping.protocol}"
    with socket.socket(family, kind) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((mapping.listen_address, mapping.host_port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return f"{endpoint} is in use on this host; free it or choose another host port"
            if error.errno == errno.EADDRNOTAVAIL:
                return not_this_hosts(mapping)
            if error.errno == errno.EACCES:
                return f"{endpoint}: binding a port below 1024 needs root; choose a higher one"
            return f"{endpoint} cannot be bound: {error.strerror}"
    return None


def not_this_hosts(mapping: PortMapping) -> str:
    """A probe's answer when the listenAddress, not the port, is the problem."""
    return (
        f"{mapping.listen_address} is not an address of this host; use one it has, "
        "such as 127.0.0.1"
    )


def _mappings(spec: LabSpec) -> Iterator[tuple[str, PortMapping]]:
    for name, override in spec.nodes.items():
        for index, mapping in enumerate(override.extra_port_mappings):
            yield f"nodes.{name}.extraPortMappings[{index}]", mapping
