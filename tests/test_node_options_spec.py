"""A node's resources, port mappings and mounts: each refusal names its field; the limits
reach Docker and the kubelet's reservation."""

from __future__ import annotations

import socket
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from labkit.constants import KUBELET_PATCHES_DIR
from labkit.errors import LabkitError
from labkit.kubeadm.config import init_config, kubelet_reservation_patch
from labkit.lab import node as node_module
from labkit.lab.port_mappings import bind_problem, check_port_mappings_free, claimed_host_ports
from labkit.spec import LabSpec, PortMapping, Resources, node_options

GIB = 2**30
WORKER = "demo-worker"


@pytest.fixture(autouse=True)
def host_of_4_cpus_and_8_gib(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a limit is compared with must not depend on the machine the tests run on."""
    monkeypatch.setattr(node_options, "host_capacity", lambda: (4, 8 * GIB))


def spec(worker: dict[str, Any] | None = None, base_dir: Path | None = None, **top: Any) -> LabSpec:
    data = {"name": "demo", "workers": 1, **top}
    if worker is not None:
        data["nodes"] = {WORKER: worker}
    return LabSpec.from_dict(data, source="lab.yaml", base_dir=base_dir)


def error_of(worker: dict[str, Any] | None = None, base_dir: Path | None = None, **top: Any) -> str:
    with pytest.raises(LabkitError) as caught:
        spec(worker, base_dir, **top)
    return str(caught.value)


# --- resources ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("memory", "size"),
    [
        ("2Gi", 2 * GIB),
        ("512Mi", 512 * 2**20),
        ("1.5Gi", 3 * GIB // 2),
        ("2G", 2 * 10**9),
        ("500M", 500 * 10**6),
        ("300000k", 300 * 10**6),
        (1073741824, GIB),
        ("1073741824", GIB),
    ],
)
def test_memory_is_read_as_kubernetes_writes_it(memory: Any, size: int) -> None:
    assert spec({"resources": {"memory": memory}}).nodes[WORKER].resources == Resources(None, size)


@pytest.mark.parametrize(("cpus", "parsed"), [(1, 1.0), (1.5, 1.5), ("1500m", 1.5), ("2", 2.0)])
def test_cpus_are_a_number_or_a_cpu_quantity(cpus: Any, parsed: float) -> None:
    assert spec({"resources": {"cpus": cpus}}).nodes[WORKER].resources == Resources(parsed, None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (-1, "-1 is too small; Docker limits a container to 0.01 CPU or more"),
        (0, "0 is too small"),
        ("lots", "'lots' is not a number of CPUs such as 1.5 or a quantity such as 1500m"),
        (True, "expected a number of CPUs"),
        (5, "5 is more CPUs than this host has (4); use at most 4"),
    ],
)
def test_bad_cpus_are_refused_naming_the_field(value: Any, expected: str) -> None:
    message = error_of({"resources": {"cpus": value}})
    assert f"lab.yaml: nodes.{WORKER}.resources.cpus: " in message
    assert expected in message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("-2Gi", "'-2Gi' is not bytes or a quantity such as 2Gi, 512Mi, 2G or 500M"),
        (0, "0 is too small; Docker needs at least 6Mi"),
        ("2GB", "'2GB' is not bytes or a quantity"),
        ("2 Gi", "is not bytes or a quantity"),
        (1.5, "expected bytes or a quantity"),
        ("9Gi", "'9Gi' is more memory than this host has (8192Mi)"),
    ],
)
def test_bad_memory_is_refused_naming_the_field(value: Any, expected: str) -> None:
    message = error_of({"resources": {"memory": value}})
    assert f"lab.yaml: nodes.{WORKER}.resources.memory: " in message
    assert expected in message


def test_lab_wide_resources_are_checked_and_named_too() -> None:
    assert "lab.yaml: resources.memory: '1Ti' is more memory" in error_of(
        resources={"memory": "1Ti"}
    )
    assert "resources.gpus: unknown field; expected one of cpus, memory" in error_of(
        resources={"gpus": 1}
    )


def test_a_nodes_resources_override_the_lab_wide_ones_field_by_field() -> None:
    lab = spec({"resources": {"cpus": 1}}, resources={"cpus": 2, "memory": "2Gi"})
    control_plane, worker = lab.node_names()
    assert lab.resources_of(control_plane) == Resources(2.0, 2 * GIB)
    assert lab.resources_of(worker) == Resources(1.0, 2 * GIB)
    assert spec().resources_of(worker) is None
    assert LabSpec.from_dict(lab.to_dict()) == lab


# --- port mappings --------------------------------------------------------------------------


def ports(*mappings: dict[str, Any]) -> dict[str, Any]:
    return {"extraPortMappings": list(mappings)}


def test_a_port_mapping_defaults_to_loopback_and_tcp() -> None:
    lab = spec(ports({"containerPort": 80, "hostPort": 18080}))
    assert lab.nodes[WORKER].extra_port_mappings == (PortMapping(80, 18080, "127.0.0.1", "TCP"),)


@pytest.mark.parametrize(
    ("mapping", "field", "expected"),
    [
        ({"hostPort": 18080}, "containerPort", "required: a port from 1 to 65535"),
        ({"containerPort": 80}, "hostPort", "required: a port from 1 to 65535"),
        ({"containerPort": 0, "hostPort": 1}, "containerPort", "0 is out of range; expected 1"),
        ({"containerPort": 80, "hostPort": 70000}, "hostPort", "70000 is out of range"),
        ({"containerPort": "80", "hostPort": 1}, "containerPort", "expected an integer"),
        (
            {"containerPort": 80, "hostPort": 1, "protocol": "SCTP"},
            "protocol",
            "'SCTP' is not supported; expected TCP or UDP",
        ),
        (
            {"containerPort": 80, "hostPort": 1, "listenAddress": "localhost"},
            "listenAddress",
            "'localhost' is not an IP address such as 127.0.0.1",
        ),
        ({"containerPort": 80, "hostPort": 1, "hostIP": "::1"}, "hostIP", "unknown field"),
    ],
)
def test_bad_port_mappings_are_refused_naming_the_field(
    mapping: dict[str, Any], field: str, expected: str
) -> None:
    message = error_of(ports(mapping))
    assert f"nodes.{WORKER}.extraPortMappings[0].{field}: {expected}" in message


def test_two_mappings_of_one_host_port_are_refused() -> None:
    first = {"containerPort": 80, "hostPort": 18080, "listenAddress": "0.0.0.0"}
    message = error_of(ports(first, {"containerPort": 81, "hostPort": 18080}))
    assert f"nodes.{WORKER}.extraPortMappings[1].hostPort: 127.0.0.1:18080/TCP is already " in (
        message
    )
    udp = {"containerPort": 81, "hostPort": 18080, "protocol": "UDP"}
    assert spec(ports(first, udp)).nodes[WORKER].extra_port_mappings[1].protocol == "UDP"


def test_a_taken_host_port_is_refused_before_anything_is_created() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        lab = spec(ports({"containerPort": 80, "hostPort": taken}))
        with pytest.raises(LabkitError) as caught:
            check_port_mappings_free(lab, set())
    assert f"lab.yaml: nodes.{WORKER}.extraPortMappings[0].hostPort: 127.0.0.1:{taken}/TCP " in (
        str(caught.value)
    )
    assert "is in use on this host" in str(caught.value)


def test_a_host_port_docker_publishes_is_refused_even_when_nothing_listens() -> None:
    lab = spec(ports({"containerPort": 80, "hostPort": 18080}))
    with pytest.raises(LabkitError, match=r"hostPort: 18080 is published by another Docker"):
        check_port_mappings_free(lab, {18080}, probe=lambda mapping: None)
    assert claimed_host_ports(lab) == {18080}


def test_an_address_the_host_does_not_have_is_refused() -> None:
    problem = bind_problem(PortMapping(80, 18080, "192.0.2.1"))
    assert problem and "192.0.2.1 is not an address of this host" in problem


# --- mounts ---------------------------------------------------------------------------------


def mounts(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"extraMounts": list(entries)}


def test_a_relative_host_path_is_taken_from_the_spec_files_folder(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    lab = spec(mounts({"hostPath": "data", "containerPath": "/data/"}), base_dir=tmp_path)
    (mount,) = lab.nodes[WORKER].extra_mounts
    assert (mount.host_path, mount.container_path, mount.read_only) == (
        tmp_path / "data",
        "/data",
        False,
    )


@pytest.mark.parametrize(
    ("entry", "field", "expected"),
    [
        ({"hostPath": "missing", "containerPath": "/d"}, "hostPath", "does not exist; create it"),
        ({"containerPath": "/d"}, "hostPath", "required: a file or folder of this host"),
        ({"hostPath": "."}, "containerPath", "None is not an absolute path in the node"),
        ({"hostPath": ".", "containerPath": "d"}, "containerPath", "'d' is not an absolute path"),
        ({"hostPath": ".", "containerPath": "/var"}, "containerPath", "/var is where labkit"),
        (
            {"hostPath": ".", "containerPath": "/d", "readOnly": "yes"},
            "readOnly",
            "expected true or false",
        ),
    ],
)
def test_bad_mounts_are_refused_naming_the_field(
    tmp_path: Path, entry: dict[str, Any], field: str, expected: str
) -> None:
    message = error_of(mounts(entry), base_dir=tmp_path)
    assert f"nodes.{WORKER}.extraMounts[0].{field}: " in message
    assert expected in message


def test_two_mounts_at_one_container_path_are_refused(tmp_path: Path) -> None:
    entry = {"hostPath": ".", "containerPath": "/d"}
    message = error_of(mounts(entry, entry), base_dir=tmp_path)
    assert (
        f"extraMounts[1].containerPath: /d is already mounted by nodes.{WORKER}.extraMounts[0]"
        in (message)
    )


# --- Docker's settings and the kubelet's reservation ------------------------------------------


class RecordingDocker:
    def __init__(self) -> None:
        self.settings: dict[str, Any] = {}
        self.volumes = SimpleNamespace(create=lambda name, labels: SimpleNamespace(name=name))
        self.containers = SimpleNamespace(run=self.run)

    def run(self, image: str, **settings: Any) -> SimpleNamespace:
        self.settings = settings
        return SimpleNamespace(name=settings["name"])


def test_limits_ports_and_mounts_reach_docker(tmp_path: Path) -> None:
    worker = {
        "resources": {"cpus": 1.5, "memory": "2Gi"},
        **ports({"containerPort": 53, "hostPort": 1053, "protocol": "UDP"}),
        **mounts({"hostPath": ".", "containerPath": "/data", "readOnly": True}),
    }
    lab = spec(worker, base_dir=tmp_path)
    override = lab.nodes[WORKER]
    docker = RecordingDocker()
    node_module.create_node(
        docker,  # type: ignore[arg-type]
        lab="demo",
        name=WORKER,
        role="worker",
        image="labkit/node:v1.37.2",
        network="demo",
        runtime=None,
        resources=lab.resources_of(lab.node_names()[1]),
        port_mappings=override.extra_port_mappings,
        mounts=override.extra_mounts,
        service_subnet=lab.networking.service_subnet,
    )
    settings = docker.settings
    # What labkit-entrypoint reads to keep the service range in the lab.
    assert settings["environment"] == {"LABKIT_SERVICE_SUBNET": "10.96.0.0/16"}
    assert settings["nano_cpus"] == 1_500_000_000
    assert settings["mem_limit"] == settings["memswap_limit"] == 2 * GIB
    assert settings["ports"] == {"53/udp": [("127.0.0.1", 1053)]}
    data = settings["mounts"][-1]
    assert (data["Target"], data["Source"], data["ReadOnly"]) == ("/data", str(tmp_path), True)


def test_the_kubelet_reserves_what_the_host_has_beyond_the_limits() -> None:
    patch = yaml.safe_load(kubelet_reservation_patch(Resources(1.5, 2 * GIB), 4, 8 * GIB))
    assert patch == {"systemReserved": {"cpu": "2500m", "memory": str(6 * GIB)}}
    only_memory = yaml.safe_load(kubelet_reservation_patch(Resources(None, 2 * GIB), 4, 8 * GIB))
    assert only_memory == {"systemReserved": {"memory": str(6 * GIB)}}


def test_only_a_limited_node_reads_the_kubelet_patches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("labkit.kubeadm.config.cgroup_mode", lambda: "v2")
    limited = spec(resources={"memory": "2Gi"})
    documents = list(
        yaml.safe_load_all(
            init_config(limited, limited.control_plane, "10.0.0.2", "abcdef.0123456789abcdef")
        )
    )
    assert documents[0]["patches"] == {"directory": KUBELET_PATCHES_DIR}
    plain = spec()
    documents = list(
        yaml.safe_load_all(
            init_config(plain, plain.control_plane, "10.0.0.2", "abcdef.0123456789abcdef")
        )
    )
    assert "patches" not in documents[0]


def test_an_address_the_host_does_not_have_is_a_listen_address_problem() -> None:
    lab = spec(ports({"containerPort": 80, "hostPort": 18080, "listenAddress": "192.0.2.1"}))
    with pytest.raises(LabkitError) as caught:
        check_port_mappings_free(lab, set())
    assert str(caught.value).startswith(
        f"lab.yaml: nodes.{WORKER}.extraPortMappings[0].listenAddress: 192.0.2.1 is not an "
        "address of this host"
    )
