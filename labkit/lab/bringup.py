"""`labkit lab up`: bring a lab up as a pipeline of named steps, as kind's create does.

check inputs -> network -> nodes (and a load balancer in front of several control planes,
and the lab's registry) -> registry mirrors -> systemd -> user binaries -> kubeadm init ->
kubeconfig -> join material -> the other control planes, one by one -> the workers (once
cluster-info is signed), the CNI and the registry's advertisement at once -> Ready.
Every input is checked before anything is created; a failed step names itself and the node
and carries that node's evidence, and the lab is removed unless the caller asked to keep it.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

import docker
import docker.errors
from kubernetes import client as k8s

from labkit import host
from labkit.constants import (
    ADMIN_CONF,
    KUBEADM_CONFIG,
)
from labkit.errors import LabkitError, StepFailed
from labkit.kubeadm import init_config, init_phases
from labkit.lab import waits
from labkit.lab.bringup_context import BringUp, PhaseCallback
from labkit.lab.cni import apply_cni_manifest
from labkit.lab.images import image_exists
from labkit.lab.joining import compute_join_material, join_control_planes, join_workers
from labkit.lab.load_balancer import create_load_balancer
from labkit.lab.model import LabModel, delete_lab, list_labs
from labkit.lab.network import (
    LabAddresses,
    bound_host_ports,
    create_network,
    lab_subnet,
    node_addresses,
)
from labkit.lab.node import ExecFailed, Node, create_node
from labkit.lab.node_limits import reserve_beyond_limits
from labkit.lab.node_releases import build_missing_images, prepare_skewed_workers
from labkit.lab.port_mappings import check_port_mappings_free, claimed_host_ports
from labkit.lab.registry import (
    REGISTRY_HOSTING_CONFIGMAP,
    create_registry,
    local_registry_hosting,
    mirror_files,
)
from labkit.lab.state import host_kubeconfig
from labkit.naming import LABEL_LAB, managed_labels
from labkit.nodeimage.registry_image import published_port
from labkit.parallel import parallel
from labkit.pipeline import LabRunResult, Progress, Step, StepTiming, required, run_steps
from labkit.spec import LabSpec, NodeSpec


def check_inputs(up: BringUp) -> None:
    """Everything that can be wrong before anything is created."""
    _check_name_free(up)
    if up.spec.image and not image_exists(up.client, up.spec.image):
        raise LabkitError(
            f"image: node image {up.spec.image} is missing; build it (`labkit image build "
            f"--kubernetes-version {up.spec.kubernetes_version} --image {up.spec.image}`) "
            "or leave `image` out to use labkit's image of the release"
        )
    if claimed_host_ports(up.spec):
        check_port_mappings_free(up.spec, bound_host_ports(up.client))
    up.runtime = host.node_runtime(up.client)


def _check_name_free(up: BringUp) -> None:
    """A first look, to refuse early; `make_network` claims the name for good."""
    name = up.spec.name
    if name in list_labs(up.client):
        raise _name_taken(up, f"a lab named {name!r} already exists")
    names = {n.name for n in up.spec.node_names()} | {name}
    containers = {n.lstrip("/") for c in up.client.api.containers(all=True) for n in c["Names"]}
    taken = sorted(names & containers)
    if taken:
        raise _name_taken(up, f"Docker has a container named {taken[0]!r}, not of a lab")
    if name in {n.name for n in up.client.networks.list()}:
        raise _name_taken(up, f"Docker has a network named {name!r}, not of a lab")


def _name_taken(up: BringUp, what: str) -> LabkitError:
    name = up.spec.name
    return LabkitError(
        f"{up.spec.source}: name: {what} (a lab's network and containers are named after "
        f"it); choose another name, or remove the lab with `labkit lab down {name}`"
    )


def make_network(up: BringUp) -> None:
    networking = up.spec.networking
    avoid = tuple(
        ipaddress.ip_network(s) for s in (networking.pod_subnet, networking.service_subnet)
    )
    with _name_claim(up):
        try:
            up.network = create_network(up.client, up.spec.name, avoid)
        except docker.errors.APIError as error:
            if error.status_code != HTTPStatus.CONFLICT:
                raise
            raise _name_taken(up, f"a lab named {up.spec.name!r} already exists") from None
        # Only from here on is what carries the lab's label this run's to remove.
        up.created = True


@contextlib.contextmanager
def _name_claim(up: BringUp) -> Iterator[None]:
    """Hold the lab's name while its network is made. Docker reserves a container's name
    atomically (two creates of one name at once: one refused 409, 10 times in 10 here) but
    checks a network's before it creates it (both created, 10 times in 10, Docker 20.10):
    so a container named after the lab, created and never started, is the claim. A run
    that loses it has created nothing and removes nothing."""
    try:
        claim = up.client.api.create_container(
            up.spec.node_image,
            name=up.spec.name,
            command=["true"],
            labels=managed_labels(**{LABEL_LAB: up.spec.name}),
        )
    except docker.errors.APIError as error:
        if error.status_code != HTTPStatus.CONFLICT:
            raise
        raise _name_taken(
            up, f"another `labkit lab up` is making a lab named {up.spec.name!r}"
        ) from None
    try:
        yield
    finally:
        up.client.api.remove_container(claim["Id"], v=True, force=True)


def create_nodes(up: BringUp) -> None:
    """Each node at the address it keeps on the lab network (control planes first, the
    load balancer last), the API server on the host port it keeps (bound by create_node,
    or by the load balancer in front of several control planes), with its limits, port
    mappings and mounts."""
    subnet = lab_subnet(up.client, up.network)
    names = [n.name for n in up.spec.node_names()]
    lb_name = up.spec.load_balancer_name
    registry = up.spec.registry_name
    others = [name for name in (lb_name, registry) if name]
    addresses = node_addresses(subnet, [*names, *others])
    override = up.spec.override_for

    def create(node_spec: NodeSpec) -> Node:
        return create_node(
            up.client,
            lab=up.spec.name,
            name=node_spec.name,
            role=node_spec.role,
            image=up.spec.image_of(node_spec),
            network=up.network,
            runtime=up.runtime,
            address=addresses[node_spec.name],
            resources=up.spec.resources_of(node_spec),
            port_mappings=override(node_spec).extra_port_mappings,
            mounts=override(node_spec).extra_mounts,
            avoid_ports=claimed_host_ports(up.spec),
            publish_api=not up.spec.is_ha,
            service_subnet=up.spec.networking.service_subnet,
        )

    up.nodes = parallel(up.spec.node_names(), create)
    if lb_name:
        up.load_balancer = create_load_balancer(
            up.client,
            lab=up.spec.name,
            name=lb_name,
            network=up.network,
            address=addresses[lb_name],
            backends={
                n.name: addresses[n.name] for n in up.spec.node_names()[: up.spec.control_planes]
            },
            avoid_ports=claimed_host_ports(up.spec),
        )
        up.progress.say(f"   load balancer {lb_name} at {addresses[lb_name]}")
    if registry:
        up.registry = create_registry(
            up.client,
            lab=up.spec.name,
            network=up.network,
            address=addresses[registry],
            image=up.registry_image,
            avoid_ports=claimed_host_ports(up.spec),
        )
        port = published_port(up.registry.container)
        up.progress.say(f"   registry {registry} at {addresses[registry]}, localhost:{port}")
    api_port = required(up.api_front.fixed_api_port())
    up.addresses = LabAddresses(str(subnet), addresses, api_port)


def configure_registry_mirrors(up: BringUp) -> None:
    """Every node's containerd resolves the public registries' names (and
    `localhost:<port>`) through the lab's registry: one archive per node, read by
    containerd at each pull, so nothing restarts."""
    if up.registry is None:
        up.progress.say("   registry: none (nodes pull from the names' own hosts)")
        return
    files = mirror_files(up.registry.lab_address(), published_port(up.registry.container))
    data = {path: text.encode() for path, text in files.items()}
    parallel(up.nodes, lambda node: node.write_files(data))
    up.progress.say(f"   {', '.join(sorted(p.split('/')[-2] for p in files))}")


def advertise_registry(up: BringUp) -> None:
    """KEP-1755's `kube-public/local-registry-hosting`, as kind's docs publish it."""
    if up.registry is None:
        return
    data = local_registry_hosting(up.registry.lab_address(), published_port(up.registry.container))
    body = k8s.V1ConfigMap(
        metadata=k8s.V1ObjectMeta(name=REGISTRY_HOSTING_CONFIGMAP, namespace="kube-public"),
        data=dict(data),
    )
    k8s.CoreV1Api(required(up.api)).create_namespaced_config_map("kube-public", body)


def wait_for_systemd(up: BringUp) -> None:
    parallel(up.nodes, lambda node: node.wait_for_systemd())


def install_user_binaries(up: BringUp) -> None:
    binaries = {"kubeadm": up.spec.binaries.kubeadm, "kubelet": up.spec.binaries.kubelet}
    chosen = {name: path for name, path in binaries.items() if path is not None}
    if not chosen:
        up.progress.say("   none given: the image's kubeadm and kubelet are used")
        return
    for name, path in chosen.items():
        data = Path(path).read_bytes()
        parallel(up.nodes, lambda node, n=name, d=data: node.write_file(f"/usr/bin/{n}", d, 0o755))
        up.progress.say(f"   /usr/bin/{name} <- {path}")


def kubeadm_init(up: BringUp) -> None:
    """Init on the first control plane; with several, `--upload-certs` stores the keys
    they share (CAs, service-account key) for their joins, encrypted with the lab's key."""
    node = up.control_plane
    ha = up.spec.is_ha
    config = init_config(
        up.spec,
        up.spec.control_plane,
        node.lab_address(),
        up.token,
        api_server_cert_sans=("127.0.0.1", "localhost"),
        certificate_key=up.certificate_key if ha else None,
    )
    node.write_file(KUBEADM_CONFIG, config.encode(), 0o600)
    if up.spec.init == "phases":
        for phase in init_phases(up.spec.kubernetes_version, upload_certs=ha):
            up.progress.say(f"   kubeadm {' '.join(phase.args[:4])}")
            up.run_kubeadm(node, list(phase), operation=f"kubeadm init phase {phase.name}")
            if up.on_phase:
                up.on_phase(phase.name, node)
    else:
        upload = ["--upload-certs"] if ha else []
        result = up.run_kubeadm(
            node,
            ["init", "--config", KUBEADM_CONFIG, *upload, "--v=1"],
            operation="kubeadm init",
        )
        up.init_output = result


def export_kubeconfig(up: BringUp) -> None:
    """admin.conf, pointed at the API port published on the host's loopback; the lab's
    spec and fixed addresses beside it."""
    addresses = required(up.addresses)
    admin = host_kubeconfig(up.control_plane.read_file(ADMIN_CONF), addresses.api_port)
    state = up.lab.state
    path = state.write_kubeconfig(admin)
    state.save_spec(up.spec)
    state.save_addresses(addresses)
    up.api = up.lab.api_client()
    up.progress.say(f"   kubeconfig: {path}")


def install_cni(up: BringUp) -> None:
    if up.spec.cni == "none":
        up.progress.say("   cni: none (nodes stay NotReady until one is installed)")
        return
    node = up.control_plane
    try:
        apply_cni_manifest(node, up.spec.networking.pod_subnet)
    except ExecFailed as failure:
        raise StepFailed(operation="install CNI", node=node.name, reason=str(failure)) from failure


def join_workers_and_install_cni(up: BringUp) -> None:
    """The CNI goes in while the workers wait for the signed cluster-info and join (kind
    installs it before joining), so the control plane's flannel, and CoreDNS there, start
    meanwhile; the registry's ConfigMap beside them. Each side raises its own StepFailed."""
    parallel([join_workers, install_cni, advertise_registry], lambda step: step(up))


def wait_until_ready(up: BringUp) -> None:
    api = required(up.api)
    checks = waits.readiness_checks(
        api,
        [n.name for n in up.nodes],
        control_planes=up.spec.control_planes,
        cni=up.spec.cni != "none",
    )
    waits.ready_or_fail(checks, api, up.nodes, up.progress.say)


BRINGUP_STEPS: list[Step[BringUp]] = [
    Step("check inputs", check_inputs),
    Step("build missing node images", build_missing_images),
    Step("create network", make_network),
    Step("create nodes", create_nodes),
    Step("configure registry mirrors", configure_registry_mirrors),
    Step("wait for systemd", wait_for_systemd),
    Step("reserve beyond node limits", reserve_beyond_limits),
    Step("prepare skewed workers", prepare_skewed_workers),
    Step("install user binaries", install_user_binaries),
    Step("kubeadm init", kubeadm_init),
    Step("export kubeconfig", export_kubeconfig),
    Step("join material", compute_join_material),
    Step("join control planes", join_control_planes),
    Step("join workers + install CNI", join_workers_and_install_cni),
    Step("wait until Ready", wait_until_ready),
]


@dataclass(frozen=True, repr=False)
class BringUpResult(LabRunResult):
    """A lab that is up (a failed bring-up raises); `str()` is what `labkit lab up` prints
    at its end."""

    lab: LabModel
    timings: list[StepTiming]

    def __str__(self) -> str:
        kubeconfig = self.lab.kubeconfig
        return (
            f"lab {self.lab.name!r} is up in {self.total_seconds:.1f}s; kubeconfig: {kubeconfig}"
            f"\n  kubectl --kubeconfig {kubeconfig} get nodes"
        )

    def _fields(self) -> dict[str, Any]:
        return {
            "kubeconfig": str(self.lab.kubeconfig),
            "nodes": [node.name for node in self.lab.nodes],
        }

    def _headline(self) -> str:
        return f"{self.lab.name!r}: {len(self.lab.nodes)} nodes in {self.total_seconds:.1f}s"


def bring_up(
    spec: LabSpec,
    *,
    client: docker.DockerClient | None = None,
    progress: Progress | None = None,
    keep_on_failure: bool = False,
    on_phase: PhaseCallback | None = None,
) -> BringUpResult:
    client = client or host.docker_client()
    progress = progress or Progress()
    up = BringUp(spec=spec, client=client, progress=progress, on_phase=on_phase)
    progress.say(
        f"bringing up lab {spec.name!r}: {spec.control_planes} control plane, "
        f"{spec.workers} workers, Kubernetes {spec.kubernetes_version}, cni {spec.cni}"
    )
    try:
        timings = run_steps(BRINGUP_STEPS, up, progress)
    except BaseException:
        if up.created and not keep_on_failure:
            progress.say(f"removing lab {spec.name!r} after the failure (keep it with --keep)")
            delete_lab(client, spec.name)
        raise
    lab = up.lab
    timed = {t.name: round(t.seconds, 2) for t in timings}
    lab.state.save_bringup_record({"timings": timed, "spec": spec.to_dict()})
    return BringUpResult(lab, timings)
