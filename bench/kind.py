"""kind as a peer: the same node image brought up by `kind create cluster`, for comparison.

kind is built once from the Go module proxy into the cache. Two things stand between kind
and this host, and both are bridged from outside kind, without changing it:

- Privileged containers need the `labkit-runc` runtime here, and kind runs plain
  `docker run --privileged`. kind finds `docker` on PATH, so a two-line shim in front of
  the real CLI adds `--runtime labkit-runc` to `docker run` (nothing else changes, and
  nothing outside this process sees it; switching dockerd's default-runtime would).
- kind applies the image's flannel manifest as it is, so flannel reaches the API server
  through the `kubernetes` Service, whose address, until kube-proxy runs on the node,
  leaves the node by its default route and would leave this host too. The benchmark owns
  kind's network and, while kind runs, rejects at the host what that network sends to the
  service range (`service_range_rejected`): flannel fails at once instead of reaching out,
  as kind's users see it fail (it crash-loops until kube-proxy is up). With
  `flannel_rendered`, kind gets labkit's rendering instead (flannel pointed at the control
  plane, labkit.lab.cni.render_cni_manifest), mounted over the image's copy.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import docker
import yaml

from labkit import host
from labkit.constants import CNI_MANIFEST
from labkit.errors import LabkitError
from labkit.host.wrapper import go_binary
from labkit.lab.cni import render_cni_manifest
from labkit.lab.network import create_network
from labkit.lab.node import container_file
from labkit.naming import cache_dir, managed_labels
from labkit.spec import DEFAULT_POD_SUBNET
from labkit.versions import KubernetesVersion

KIND_VERSION = "v0.33.0"
KIND_MODULE = "sigs.k8s.io/kind"
CLUSTER_LABEL = "io.x-k8s.kind.cluster"
# kind's own network is "kind"; a separate one keeps the benchmark off a user's kind setup.
NETWORK = "labkit-bench-kind"
# The `kubernetes` Service and its kin: kind's default service subnet (10.96.0.0/16) and
# kubeadm's (10.96.0.0/12).
SERVICE_RANGE = "10.96.0.0/12"
# kind's default too; labkit's is the same so that the two compare like for like.
POD_SUBNET = DEFAULT_POD_SUBNET
CREATE_TIMEOUT = 600.0


def kind_binary(version: str = KIND_VERSION) -> Path:
    """kind, built from the module proxy into ~/.cache/labkit/kind/<version>/ once."""
    binary = cache_dir() / "kind" / version / "kind"
    if binary.is_file():
        return binary
    binary.parent.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "GOBIN": str(binary.parent),
        "GOTOOLCHAIN": "local",
        "GOFLAGS": "-mod=mod",
        "CGO_ENABLED": "0",
    }
    result = subprocess.run(
        [go_binary(), "install", f"{KIND_MODULE}@{version}"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0 or not binary.is_file():
        raise LabkitError(
            f"could not build {KIND_MODULE}@{version} "
            f"(exit {result.returncode}): {result.stderr[-2000:]}"
        )
    return binary


def docker_shim(directory: Path, runtime: str) -> Path:
    """A `docker` that runs the real CLI, adding `--runtime` to `docker run`."""
    real = shutil.which("docker")
    if real is None:
        raise LabkitError("kind needs the docker CLI on PATH; none was found")
    directory.mkdir(parents=True, exist_ok=True)
    shim = directory / "docker"
    shim.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = run ]; then shift; exec {real} run --runtime {runtime} "$@"; fi\n'
        f'exec {real} "$@"\n'
    )
    shim.chmod(0o755)
    return directory


def rendered_cni_manifest(
    client: docker.DockerClient,
    image: str,
    directory: Path,
    control_plane: str,
    pod_subnet: str = POD_SUBNET,
) -> Path:
    """The image's CNI manifest as labkit renders it for its own labs, flannel pointed at
    `control_plane` (kind's control-plane node name)."""
    manifest = read_image_file(client, image, CNI_MANIFEST)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "default-cni.yaml"
    path.write_text(render_cni_manifest(manifest, pod_subnet, control_plane))
    return path


def read_image_file(client: docker.DockerClient, image: str, path: str) -> str:
    """A file of the image, from a container that is created, never started, and removed
    with its anonymous volumes."""
    container = client.containers.create(image, labels=managed_labels())
    try:
        return container_file(container, path).decode()
    finally:
        container.remove(v=True, force=True)


def create_network_for_kind(client: docker.DockerClient) -> str:
    """kind's network, made by labkit (labelled, on a free subnet) so that its subnet is
    known before kind starts; kind uses a network that exists. Returns the subnet."""
    remove_network(client)
    create_network(client, NETWORK)
    return client.networks.get(NETWORK).attrs["IPAM"]["Config"][0]["Subnet"]


@contextmanager
def service_range_rejected(subnet: str) -> Iterator[None]:
    """While it lasts, the host refuses whatever `subnet` sends to the service range: a
    pod that dials the `kubernetes` Service before kube-proxy has rules on its node gets a
    refusal instead of sending its request off the lab."""
    rule = ["DOCKER-USER", "-s", subnet, "-d", SERVICE_RANGE, "-j", "REJECT"]
    subprocess.run(["iptables", "-I", *rule], check=True, capture_output=True)
    try:
        yield
    finally:
        subprocess.run(["iptables", "-D", *rule], check=False, capture_output=True)


def host_accommodation(version: KubernetesVersion, cgroup_v1: bool) -> list[str]:
    """The kubeadmConfigPatches a kind user on this host must add, and nothing more: from
    1.35 the kubelet refuses cgroup v1 unless `failCgroupV1: false`, and kubeadm's
    SystemVerification preflight fails there unless skipped (kind sets neither; its
    maintainers left it to users, kind#4077). The same two settings labkit makes."""
    if not (cgroup_v1 and version.refuses_cgroup_v1):
        return []
    skip = {"nodeRegistration": {"ignorePreflightErrors": ["SystemVerification"]}}
    documents = [
        {"kind": "KubeletConfiguration", "failCgroupV1": False},
        {"kind": "InitConfiguration", **skip},
        {"kind": "JoinConfiguration", **skip},
    ]
    return [yaml.safe_dump(document, sort_keys=False) for document in documents]


def cluster_config(
    workers: int, cni_manifest: Path | None, accommodation: list[str] | None = None
) -> str:
    control_plane: dict = {"role": "control-plane"}
    if cni_manifest is not None:
        control_plane["extraMounts"] = [
            {"hostPath": str(cni_manifest), "containerPath": CNI_MANIFEST, "readOnly": True}
        ]
    config = {
        "kind": "Cluster",
        "apiVersion": "kind.x-k8s.io/v1alpha4",
        "networking": {"podSubnet": POD_SUBNET},
        "nodes": [control_plane, *({"role": "worker"} for _ in range(workers))],
    }
    if accommodation:
        config["kubeadmConfigPatches"] = accommodation
    return yaml.safe_dump(config, sort_keys=False)


@dataclass
class KindCluster:
    """One kind cluster made by the benchmark; `create` records kind's own step times."""

    name: str
    image: str
    workdir: Path
    workers: int = 2
    client: docker.DockerClient = field(default_factory=host.docker_client)
    output: list[tuple[float, str]] = field(default_factory=list)
    # labkit's flannel rendering instead of the image's manifest as it is.
    flannel_rendered: bool = False
    # kubeadmConfigPatches this host needs (host_accommodation), recorded in the results.
    accommodation: list[str] = field(default_factory=list)

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig"

    def environment(self) -> dict[str, str]:
        env = {
            **os.environ,
            "KIND_EXPERIMENTAL_DOCKER_NETWORK": NETWORK,
            "KUBECONFIG": str(self.kubeconfig),
        }
        runtime = host.node_runtime(self.client)
        if runtime:
            shim = docker_shim(self.workdir / "shim", runtime)
            env["PATH"] = f"{shim}{os.pathsep}{env.get('PATH', '')}"
        return env

    def create(self, on_line: Callable[[str], None] | None = None) -> None:
        """`kind create cluster` without --wait: readiness is measured by the caller."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        manifest = (
            rendered_cni_manifest(
                self.client, self.image, self.workdir, f"{self.name}-control-plane"
            )
            if self.flannel_rendered
            else None
        )
        config = self.workdir / "kind.yaml"
        config.write_text(cluster_config(self.workers, manifest, self.accommodation))
        command = [
            str(kind_binary()),
            "create",
            "cluster",
            "--name",
            self.name,
            "--image",
            self.image,
            "--config",
            str(config),
            "--kubeconfig",
            str(self.kubeconfig),
        ]
        started = time.monotonic()
        process = subprocess.Popen(
            command,
            env=self.environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert process.stdout is not None
        for line in process.stdout:
            self.output.append((time.monotonic() - started, line.rstrip()))
            if on_line:
                on_line(line.rstrip())
        if process.wait(CREATE_TIMEOUT) != 0:
            tail = "\n".join(text for _, text in self.output[-30:])
            raise LabkitError(
                f"kind create cluster {self.name} exited {process.returncode}:\n{tail}"
            )

    def step_seconds(self) -> dict[str, float]:
        """kind's steps from its status lines: ' • Step ...' starts one, ' ✓ Step' ends it."""
        started: dict[str, float] = {}
        steps: dict[str, float] = {}
        for seconds, line in self.output:
            text = line.strip()
            if text.startswith("• ") and text.endswith("..."):
                started[_step_title(text[2:-3])] = seconds
            elif text.startswith("✓ "):
                title = _step_title(text[2:])
                if title in started:
                    steps[title] = round(seconds - started[title], 2)
        return steps

    def delete(self) -> None:
        subprocess.run(
            [
                str(kind_binary()),
                "delete",
                "cluster",
                "--name",
                self.name,
                "--kubeconfig",
                str(self.kubeconfig),
            ],
            env=self.environment(),
            capture_output=True,
            check=False,
        )

    def containers(self) -> list:
        return self.client.containers.list(filters={"label": f"{CLUSTER_LABEL}={self.name}"})


def remove_network(client: docker.DockerClient) -> None:
    """kind leaves its network behind on delete; the benchmark's own is removed at the end."""
    for network in client.networks.list(names=[NETWORK]):
        if network.name == NETWORK:
            network.remove()


def _step_title(text: str) -> str:
    """'Preparing nodes 📦 📦 📦' -> 'Preparing nodes': the words before the emoji."""
    words = []
    for word in text.split():
        if not word.isascii():
            break
        words.append(word)
    return " ".join(words).split(" (")[0]
