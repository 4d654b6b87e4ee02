"""A node: one privileged container running systemd, containerd and the kubelet."""

from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import tarfile
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import docker
import docker.errors
from docker.models.containers import Container
from docker.types import Mount

from labkit.constants import API_SERVER_PORT, ROLE_CONTROL_PLANE, SYSTEMD_BOOT_TIMEOUT
from labkit.errors import StepFailed, cut
from labkit.lab.network import PORT_TAKEN, bound_host_ports, free_host_port
from labkit.naming import LABEL_LAB, LABEL_NODE, LABEL_ROLE, managed_labels
from labkit.spec import HostMount, PortMapping, Resources

# How Docker names the API server's port among a container's published ports.
_PUBLISHED_API_PORT = f"{API_SERVER_PORT}/tcp"
_TIMED_OUT = 124  # as timeout(1) reports it
EMPTY_OUTPUT_TRIES = 3
# systemd prints this on the console (a tty) once the boot target is reached.
_BOOTED = re.compile(rb"Reached target .*(Multi-User System|Graphical Interface)")
# How Docker refuses to publish a host port that something else holds (docker-proxy's
# bind, or Docker's own allocator).
# Host ports tried for a control plane's API server before giving up.
_API_PORT_TRIES = 5
# Docker starts a node again once when it fails, and when the Docker engine starts if the
# node's last exit was not 0: a node stopped cleanly exits 130 (systemd's poweroff), so
# after an engine restart or a reboot every node comes back unless `lab stop` stopped it.
RESTART_POLICY = {"Name": "on-failure", "MaximumRetryCount": 1}
# What the node's entrypoint reads the service range from.
SERVICE_SUBNET_VARIABLE = "LABKIT_SERVICE_SUBNET"


@dataclass(frozen=True, repr=False)
class ExecResult:
    command: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def __repr__(self) -> str:
        # The output can be a whole `kubectl get -o yaml`: its size, not its text.
        return (
            f"<ExecResult `{cut(' '.join(self.command))}` exited {self.exit_code}, "
            f"stdout {len(self.stdout)} chars, stderr {len(self.stderr)} chars>"
        )


class ExecFailed(Exception):
    def __init__(self, node: str, result: ExecResult) -> None:
        self.node = node
        self.result = result
        output = (result.stderr or result.stdout).strip()[-2000:]
        super().__init__(
            f"`{' '.join(result.command)}` exited {result.exit_code} on {node}: {output}"
        )


@dataclass
class Node:
    name: str
    role: str
    container: Container

    @property
    def is_control_plane(self) -> bool:
        return self.role == ROLE_CONTROL_PLANE

    def address(self, network: str) -> str:
        self.container.reload()
        return self.container.attrs["NetworkSettings"]["Networks"][network]["IPAddress"]

    def lab_address(self) -> str:
        """The node's address on its lab's network (named after the lab, as
        labkit.lab.network.create_network makes it); empty while it is stopped."""
        return self.address(self.container.labels[LABEL_LAB])

    def fixed_address(self) -> str | None:
        """The address the node was given on its lab's network when it was created, kept
        while it is stopped; None for a node made before labkit fixed them."""
        self.container.reload()
        networks = self.container.attrs["NetworkSettings"]["Networks"] or {}
        endpoint = networks.get(self.container.labels[LABEL_LAB]) or {}
        return (endpoint.get("IPAMConfig") or {}).get("IPv4Address") or None

    def published_api_port(self) -> int:
        self.container.reload()
        bindings = self.container.attrs["NetworkSettings"]["Ports"].get(_PUBLISHED_API_PORT) or []
        return int(bindings[0]["HostPort"])

    def fixed_api_port(self) -> int | None:
        """The host port the API server was bound to when the node was created, kept while
        it is stopped; None where Docker picks one at each start (older labs)."""
        host_config = self.container.attrs.get("HostConfig") or {}
        bindings = (host_config.get("PortBindings") or {}).get(_PUBLISHED_API_PORT) or []
        port = bindings[0].get("HostPort", "") if bindings else ""
        return int(port) if port.isdigit() and int(port) else None

    def exec(
        self,
        command: Sequence[str],
        *,
        timeout: float = 120.0,
        check: bool = True,
        on_line: Callable[[str], None] | None = None,
    ) -> ExecResult:
        """Run a command in the node; kill it when `timeout` passes."""
        api = self.container.client.api
        exec_id = api.exec_create(self.container.id, list(command), stdout=True, stderr=True)["Id"]
        chunks: dict[str, list[bytes]] = {"stdout": [], "stderr": []}

        failures: list[BaseException] = []

        def collect() -> None:
            try:
                for out, err in api.exec_start(exec_id, stream=True, demux=True):
                    if out:
                        chunks["stdout"].append(out)
                        if on_line:
                            for line in out.decode(errors="replace").splitlines():
                                on_line(line)
                    if err:
                        chunks["stderr"].append(err)
            except Exception as error:  # handed to the caller: output would be truncated
                failures.append(error)

        reader = threading.Thread(target=collect, daemon=True)
        reader.start()
        reader.join(timeout)
        timed_out = reader.is_alive()
        if timed_out:
            _kill_exec(api, exec_id)
            reader.join(5)
        if failures:
            raise ExecStreamBroken(
                f"reading the output of `{' '.join(command)}` on {self.name} failed: {failures[0]}"
            ) from failures[0]
        stderr = b"".join(chunks["stderr"]).decode(errors="replace")
        if timed_out:
            stderr += f"\n(killed: no exit within {timeout:.0f}s)"
        exit_code = _TIMED_OUT if timed_out else exec_exit_code(api, exec_id)
        result = ExecResult(
            tuple(command), exit_code, b"".join(chunks["stdout"]).decode(errors="replace"), stderr
        )
        if check and not result.ok:
            raise ExecFailed(self.name, result)
        return result

    def output(self, command: Sequence[str], *, timeout: float = 120.0) -> str:
        """The standard output of a command that always prints something on success. Docker
        can lose a short-lived exec's output under load (moby/moby#27289): a run that
        succeeds with nothing on stdout is repeated, at most twice more."""
        for _ in range(EMPTY_OUTPUT_TRIES):
            stdout = self.exec(command, timeout=timeout).stdout
            if stdout.strip():
                break
        return stdout

    def read_file(self, path: str) -> bytes:
        return container_file(self.container, path)

    def write_file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        """Write through the container's filesystem layer: not into its tmpfs mounts (/tmp,
        /run), which `put_archive` does not see."""
        directory, name = os.path.split(path)
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, int(time.time())
            archive.addfile(info, io.BytesIO(data))
        self.exec(["mkdir", "-p", directory])
        self.container.put_archive(directory, buffer.getvalue())

    def write_files(self, files: Mapping[str, bytes], mode: int = 0o644) -> None:
        """Several files (absolute path -> content) in one archive, their directories made."""
        buffer = io.BytesIO()
        now = int(time.time())
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            directories = sorted({p for path in files for p in _parents(path)})
            for directory in directories:
                info = tarfile.TarInfo(directory)
                info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, now
                archive.addfile(info)
            for path, data in files.items():
                info = tarfile.TarInfo(path.lstrip("/"))
                info.size, info.mode, info.mtime = len(data), mode, now
                archive.addfile(info, io.BytesIO(data))
        self.container.put_archive("/", buffer.getvalue())

    def journal(self, unit: str | None = None, lines: int = 80) -> str:
        command = ["journalctl", "--no-pager", "-o", "short-precise", "-n", str(lines)]
        if unit:
            command += ["-u", unit]
        return self.exec(command, check=False, timeout=20).stdout

    def wait_for_systemd(self, timeout: float = SYSTEMD_BOOT_TIMEOUT) -> None:
        """Follow the console until systemd reaches its boot target (no polling)."""
        booted = threading.Event()

        def follow() -> None:
            seen = b""
            for chunk in self.container.logs(stream=True, follow=True):
                seen = (seen + chunk)[-4096:]
                if _BOOTED.search(seen):
                    booted.set()
                    return

        threading.Thread(target=follow, daemon=True).start()
        if not booted.wait(timeout):
            logs = self.container.logs(tail=40).decode(errors="replace")
            raise StepFailed(
                operation="wait for systemd",
                node=self.name,
                reason=f"systemd did not reach multi-user.target in {timeout:.0f}s",
                evidence={"container log (tail)": logs},
            )


class ExecStreamBroken(Exception):
    """docker-py lost part of an exec's output stream (seen on busy hosts)."""


def exec_exit_code(api: docker.APIClient, exec_id: str) -> int:
    # The stream can end a moment before Docker records the exit code.
    for _ in range(50):
        state = api.exec_inspect(exec_id)
        if not state.get("Running"):
            return int(state.get("ExitCode") or 0)
        time.sleep(0.1)
    return int(api.exec_inspect(exec_id).get("ExitCode") or 0)


def _kill_exec(api: docker.APIClient, exec_id: str) -> None:
    pid = api.exec_inspect(exec_id).get("Pid")
    if pid:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def create_node(
    client: docker.DockerClient,
    *,
    lab: str,
    name: str,
    role: str,
    image: str,
    network: str,
    runtime: str | None,
    address: str | None = None,
    resources: Resources | None = None,
    port_mappings: Sequence[PortMapping] = (),
    mounts: Sequence[HostMount] = (),
    avoid_ports: Collection[int] = (),
    publish_api: bool = True,
    service_subnet: str | None = None,
) -> Node:
    """Create and start a node container with labkit's labels and its own /var volume, at
    `address` on the lab network (else where Docker puts it), limited to `resources`, with
    the user's `port_mappings` and `mounts`. A control plane publishes the API server on
    127.0.0.1 at a port chosen here (never one of `avoid_ports`, which the lab's mappings
    claim) and bound explicitly: Docker keeps it across restarts, where a port it picks
    itself moves at every start. Behind a load balancer (`publish_api` false), the load
    balancer publishes it instead. The node refuses what is addressed to `service_subnet`
    and kube-proxy did not translate (its entrypoint, at every start), so that it stays in
    the lab."""
    labels = managed_labels(**{LABEL_LAB: lab, LABEL_ROLE: role, LABEL_NODE: name})
    # containerd's overlayfs snapshotter cannot sit on the container's overlay root.
    volume = client.volumes.create(name=f"{name}-var", labels=labels)
    settings = _container_settings(name, labels, volume.name, network, runtime)
    settings["mounts"] += [_bind_mount(mount) for mount in mounts]
    settings.update(_limits(resources))
    if service_subnet:
        settings["environment"] = {SERVICE_SUBNET_VARIABLE: service_subnet}
    user_ports = _published_ports(port_mappings)
    if address:
        endpoint = client.api.create_endpoint_config(ipv4_address=address)
        settings["networking_config"] = {network: endpoint}
    if role != ROLE_CONTROL_PLANE or not publish_api:
        if user_ports:
            settings["ports"] = user_ports
        return Node(name=name, role=role, container=client.containers.run(image, **settings))
    container = run_publishing_api_port(client, image, settings, user_ports, avoid_ports)
    return Node(name=name, role=role, container=container)


def _parents(path: str) -> list[str]:
    """`etc`, `etc/containerd`, ... of `/etc/containerd/config.toml`, as a tar names them."""
    parts = path.strip("/").split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def run_publishing_api_port(
    client: docker.DockerClient,
    image: str,
    settings: dict[str, Any],
    user_ports: dict[str, list[tuple[str, int]]] | None = None,
    avoid_ports: Collection[int] = (),
) -> Container:
    """Run a container that publishes the API port on 127.0.0.1 at a host port chosen here
    (never one of `avoid_ports`) and bound explicitly, beside the user's `user_ports`."""
    return run_publishing_port(
        client, image, settings, _PUBLISHED_API_PORT, user_ports, avoid_ports
    )


def run_publishing_port(
    client: docker.DockerClient,
    image: str,
    settings: dict[str, Any],
    container_port: str,
    user_ports: dict[str, list[tuple[str, int]]] | None = None,
    avoid_ports: Collection[int] = (),
) -> Container:
    """Run a container that publishes `container_port` (`6443/tcp`) on 127.0.0.1 at a host
    port chosen here and bound explicitly, so that it keeps it across restarts."""
    user_ports = user_ports or {}
    refused: list[int] = []
    for _ in range(_API_PORT_TRIES):
        port = free_host_port({*bound_host_ports(client), *refused, *avoid_ports})
        binding = ("127.0.0.1", port)
        published = {**user_ports, container_port: binding}
        if container_port in user_ports:
            published[container_port] = [*user_ports[container_port], binding]
        try:
            return client.containers.run(image, ports=published, **settings)
        except docker.errors.APIError as error:
            # Another bring-up took the API port between the choice and the start; a
            # taken port of the user's is no reason to try another API port.
            if not PORT_TAKEN.search(str(error)) or _names_a_port(error, user_ports):
                raise
            remove_quietly(lambda: client.containers.get(settings["name"]).remove(force=True))
            refused.append(port)
    raise StepFailed(
        operation=f"publish port {container_port}",
        node=settings["name"],
        reason=f"Docker refused {_API_PORT_TRIES} host ports on 127.0.0.1 as taken "
        f"({', '.join(map(str, refused))}): something claims ports as fast as labkit "
        "picks them; bring the lab up again",
    )


def _container_settings(
    name: str, labels: dict[str, str], var_volume: str, network: str, runtime: str | None
) -> dict[str, Any]:
    return {
        "name": name,
        "hostname": name,
        "detach": True,
        "tty": True,
        "privileged": True,
        "runtime": runtime,
        "labels": labels,
        "network": network,
        "security_opt": ["seccomp=unconfined", "apparmor=unconfined"],
        "tmpfs": {"/tmp": "", "/run": "", "/run/lock": ""},
        "mounts": _mounts(var_volume),
        "cgroupns": "private",
        "restart_policy": dict(RESTART_POLICY),
        "init": False,
    }


def _limits(resources: Resources | None) -> dict[str, int]:
    if resources is None:
        return {}
    limits = {}
    if resources.cpus:
        limits["nano_cpus"] = round(resources.cpus * 1e9)
    if resources.memory:
        # Swap as large as the memory limit: no swap beyond it, so the limit the kubelet is
        # told (labkit.kubeadm.config.kubelet_reservation_patch) is the node's whole memory.
        limits["mem_limit"] = limits["memswap_limit"] = resources.memory
    return limits


def _published_ports(mappings: Sequence[PortMapping]) -> dict[str, list[tuple[str, int]]]:
    """docker-py's `ports`: each container port with every host address and port it is
    published on."""
    ports: dict[str, list[tuple[str, int]]] = {}
    for mapping in mappings:
        key = f"{mapping.container_port}/{mapping.protocol.lower()}"
        ports.setdefault(key, []).append((mapping.listen_address, mapping.host_port))
    return ports


def _names_a_port(error: docker.errors.APIError, ports: dict[str, list[tuple[str, int]]]) -> bool:
    """Whether Docker's refusal names one of these host ports (`Bind for ADDRESS:PORT`)."""
    host_ports = {port for bindings in ports.values() for _, port in bindings}
    return any(re.search(rf":{port}\b", str(error)) for port in host_ports)


def _bind_mount(mount: HostMount) -> Mount:
    return Mount(mount.container_path, str(mount.host_path), type="bind", read_only=mount.read_only)


def _mounts(var_volume: str) -> list[Mount]:
    mounts = [Mount("/var", var_volume, type="volume")]
    # kube-proxy and kubeadm's preflight read kernel modules where the host has them.
    if os.path.isdir("/lib/modules"):
        mounts.append(Mount("/lib/modules", "/lib/modules", type="bind", read_only=True))
    return mounts


def find_by_role(client: docker.DockerClient, lab: str, role: str) -> Node | None:
    """The lab's one container of `role` that is not a node (its load balancer, its
    registry), or None."""
    containers: list[Container] = client.containers.list(
        all=True, filters={"label": [f"{LABEL_LAB}={lab}", f"{LABEL_ROLE}={role}"]}
    )
    if not containers:
        return None
    return Node(name=containers[0].name, role=role, container=containers[0])


def find_nodes(client: docker.DockerClient, lab: str) -> list[Node]:
    containers = client.containers.list(all=True, filters={"label": f"{LABEL_LAB}={lab}"})
    nodes = [
        Node(c.labels[LABEL_NODE], c.labels[LABEL_ROLE], c)
        for c in containers
        if LABEL_NODE in c.labels
    ]
    return sorted(nodes, key=lambda n: (n.role != ROLE_CONTROL_PLANE, n.name))


def remove_quietly(action: Callable[[], object]) -> None:
    with contextlib.suppress(docker.errors.NotFound):
        action()


def container_file(container: Container, path: str) -> bytes:
    """One regular file of a container (running or only created), in one archive read."""
    stream, _ = container.get_archive(path)
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as archive:
        member = archive.next()
        extracted = archive.extractfile(member) if member else None
        if extracted is None:
            raise FileNotFoundError(f"{container.name}:{path} is not a regular file")
        return extracted.read()
