"""The lab spec: defaults, node naming, and one test per validation error."""

from __future__ import annotations

import dataclasses
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from labkit.errors import LabkitError
from labkit.spec import LabSpec, NodeSpec
from labkit.versions import DEFAULT_VERSION, KubernetesVersion

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "lab.yaml"


def error_of(data: Any, source: str = "lab.yaml") -> str:
    with pytest.raises(LabkitError) as caught:
        LabSpec.from_dict(data, source=source)
    message = str(caught.value)
    assert message.startswith(f"{source}: "), message
    return message


def write(tmp_path: Path, text: str, name: str = "lab.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_empty_spec_is_a_one_node_lab_with_kinds_defaults() -> None:
    spec = LabSpec.from_dict({})
    assert (spec.name, spec.control_planes, spec.workers, spec.cni, spec.init) == (
        "labkit",
        1,
        0,
        "flannel",
        "whole",
    )
    assert spec.kubernetes_version == DEFAULT_VERSION
    assert spec.node_image == f"labkit/node:{DEFAULT_VERSION}"
    assert (spec.networking.pod_subnet, spec.networking.service_subnet) == (
        "10.244.0.0/16",
        "10.96.0.0/16",
    )
    assert spec.networking.dns_domain == "cluster.local"
    assert LabSpec.from_dict(None) == spec == LabSpec()


def test_node_names_follow_kind() -> None:
    spec = LabSpec.from_dict({"name": "demo", "workers": 3})
    assert spec.node_names() == [
        NodeSpec("demo-control-plane", "control-plane", 1),
        NodeSpec("demo-worker", "worker", 1),
        NodeSpec("demo-worker2", "worker", 2),
        NodeSpec("demo-worker3", "worker", 3),
    ]
    assert spec.control_plane.is_control_plane
    assert not spec.node_names()[1].is_control_plane


def test_example_spec_loads() -> None:
    spec = LabSpec.from_file(EXAMPLE)
    assert spec.name == "demo" and spec.workers == 2
    assert spec.kubeadm["KubeletConfiguration"]["maxPods"] == 50
    assert spec.nodes["demo-worker2"].ignore_preflight_errors == ("Swap",)


def test_explicit_image_wins_over_the_version_tag() -> None:
    spec = LabSpec.from_dict({"kubernetesVersion": "v1.35.0", "image": "me/node:dev"})
    assert spec.node_image == "me/node:dev"
    assert LabSpec.from_dict({"kubernetesVersion": "v1.36.3"}).node_image == "labkit/node:v1.36.3"


def test_empty_sections_mean_defaults() -> None:
    spec = LabSpec.from_dict({"networking": None, "kubeadm": None, "nodes": None, "workers": None})
    assert spec == LabSpec()


def test_spec_is_immutable() -> None:
    spec = LabSpec.from_dict({"kubeadm": {"KubeletConfiguration": {"evictionHard": {"a": "1"}}}})
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.workers = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        spec.kubeadm["KubeletConfiguration"]["evictionHard"]["a"] = "2"  # type: ignore[index]


def test_to_dict_round_trips() -> None:
    spec = LabSpec.from_file(EXAMPLE)
    assert LabSpec.from_dict(spec.to_dict()) == spec


# --- unknown fields and wrong types -------------------------------------------------------


def test_unknown_top_level_field() -> None:
    message = error_of({"workerz": 2})
    assert "workerz: unknown field; expected one of name, kubernetesVersion" in message


def test_unknown_nested_field_names_its_full_path() -> None:
    assert error_of({"networking": {"podSubnett": "10.1.0.0/16"}}) == (
        "lab.yaml: networking.podSubnett: unknown field; "
        "expected one of podSubnet, serviceSubnet, dnsDomain"
    )
    message = error_of({"workers": 1, "nodes": {"labkit-worker": {"kubeadmm": {}}}})
    assert "nodes.labkit-worker.kubeadmm: unknown field; expected one of kubeadm, " in message
    assert "binaries.kubectl: unknown field" in error_of({"binaries": {"kubectl": "/bin/true"}})


def test_snake_case_keys_are_unknown() -> None:
    assert "pod_subnet: unknown field" in error_of({"networking": {"pod_subnet": "10.1.0.0/16"}})


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ([1, 2], "the top level: expected a mapping, got list"),
        ({"networking": "10.0.0.0/8"}, "networking: expected a mapping, got str"),
        ({"name": 7}, "name: expected a string, got int 7"),
        ({"ignorePreflightErrors": "Swap"}, "ignorePreflightErrors: expected a list of strings"),
        ({"ignorePreflightErrors": ["Swap", 3]}, "ignorePreflightErrors[1]: expected a non-empty"),
        ({"kubeadm": {"ClusterConfiguration": ["x"]}}, "kubeadm.ClusterConfiguration: expected a"),
        ({"nodes": ["labkit-control-plane"]}, "nodes: expected a mapping"),
    ],
)
def test_wrong_types_name_the_field_and_the_type(data: Any, expected: str) -> None:
    assert expected in error_of(data)


# --- counts ---------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [0, -1, 7])
def test_control_planes_out_of_the_odd_counts(count: int) -> None:
    message = error_of({"controlPlanes": count})
    assert f"controlPlanes: {count} is not supported; expected 1, 3, 5" in message


@pytest.mark.parametrize("count", [2, 4])
def test_an_even_count_of_control_planes_is_refused_naming_etcds_quorum(count: int) -> None:
    message = error_of({"controlPlanes": count})
    assert f"controlPlanes: {count} is even" in message and "quorum" in message
    assert f"no more than {count - 1} members" in message


@pytest.mark.parametrize("count", [1, 3, 5])
def test_odd_counts_of_control_planes_name_their_nodes_as_kind_does(count: int) -> None:
    spec = LabSpec.from_dict({"name": "ha", "controlPlanes": count, "workers": 1})
    names = [n.name for n in spec.node_names()]
    expected = ["ha-control-plane"] + [f"ha-control-plane{i}" for i in range(2, count + 1)]
    assert names == [*expected, "ha-worker"]


@pytest.mark.parametrize("workers", [-1, 11])
def test_workers_out_of_range(workers: int) -> None:
    assert f"workers: {workers} is out of range; expected 0 to 10" in error_of({"workers": workers})


@pytest.mark.parametrize(
    ("value", "shown"), [("two", "str 'two'"), (1.5, "float 1.5"), (True, "bool True")]
)
def test_non_integer_workers(value: Any, shown: str) -> None:
    assert f"workers: expected an integer, got {shown}" in error_of({"workers": value})


# --- version, name, choices ----------------------------------------------------------------


def test_unsupported_version() -> None:
    message = error_of({"kubernetesVersion": "v1.99.0"})
    assert "kubernetesVersion: v1.99.0 is not supported; supported minors are v1.35" in message


@pytest.mark.parametrize("text", ["latest", "1.34.4", "v1.34"])
def test_garbage_version(text: str) -> None:
    message = error_of({"kubernetesVersion": text})
    assert f"kubernetesVersion: {text!r} is not a Kubernetes release" in message
    assert "vMAJOR.MINOR.PATCH" in message


def test_version_written_as_a_yaml_number(tmp_path: Path) -> None:
    with pytest.raises(LabkitError, match="kubernetesVersion: expected a string, got float"):
        LabSpec.from_file(write(tmp_path, "kubernetesVersion: 1.34\n"))


@pytest.mark.parametrize("name", ["Demo", "my_lab", "-lab", "lab-", "", "lab.one"])
def test_name_must_be_a_lowercase_dns_label(name: str) -> None:
    message = error_of({"name": name})
    assert f"name: {name!r} is not a lowercase DNS label" in message


def test_name_length_keeps_node_names_valid_hostnames() -> None:
    longest = "a" * 40
    spec = LabSpec.from_dict({"name": longest, "workers": 10})
    assert max(len(node.name) for node in spec.node_names()) <= 63
    message = error_of({"name": "a" * 41})
    assert "name: " in message and "41 characters long; use at most 40" in message


def test_bad_cni() -> None:
    assert "cni: 'calico' is not supported; expected one of flannel, none" in error_of(
        {"cni": "calico"}
    )


def test_bad_init_mode() -> None:
    assert "init: 'partial' is not supported; expected one of whole, phases" in error_of(
        {"init": "partial"}
    )


def test_bad_image() -> None:
    assert "image: 'labkit/node: v1' is not an image" in error_of({"image": "labkit/node: v1"})


# --- networking ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("podSubnet", "banana", "networking.podSubnet: 'banana' is not a CIDR; expected an IPv4"),
        ("podSubnet", "10.244.0.0/33", "networking.podSubnet: '10.244.0.0/33' is not a CIDR"),
        ("podSubnet", "10.244.0.0", "networking.podSubnet: '10.244.0.0' is not an IPv4 CIDR"),
        ("serviceSubnet", "fd00::/108", "networking.serviceSubnet: 'fd00::/108' is not an IPv4"),
        ("podSubnet", "10.244.0.1/16", "has host bits set; did you mean 10.244.0.0/16?"),
        ("podSubnet", "10.244.0.0/25", "networking.podSubnet: 10.244.0.0/25 must be between /8"),
        ("serviceSubnet", "10.0.0.0/8", "networking.serviceSubnet: 10.0.0.0/8 must be between /12"),
        ("dnsDomain", "Cluster_Local", "networking.dnsDomain: 'Cluster_Local' is not a lowercase"),
    ],
)
def test_bad_networking(field: str, value: str, expected: str) -> None:
    assert expected in error_of({"networking": {field: value}})


def test_pod_subnet_needs_a_slash_24_per_node() -> None:
    LabSpec.from_dict({"networking": {"podSubnet": "10.244.0.0/24"}})
    message = error_of({"workers": 1, "networking": {"podSubnet": "10.244.0.0/24"}})
    assert "must be between /8 and /23: each of the 2 nodes gets a /24" in message


def test_overlapping_subnets() -> None:
    message = error_of({"networking": {"podSubnet": "10.96.0.0/12"}})
    assert "networking: podSubnet 10.96.0.0/12 and serviceSubnet 10.96.0.0/16 overlap" in message


# --- patches and node overrides ------------------------------------------------------------


def test_unknown_patch_kind() -> None:
    message = error_of({"kubeadm": {"KubeletConfig": {}}})
    assert "kubeadm.KubeletConfig: unknown field; expected one of InitConfiguration," in message
    assert "KubeProxyConfiguration" in message


def test_patch_may_not_change_the_document_kind() -> None:
    message = error_of({"kubeadm": {"KubeletConfiguration": {"apiVersion": "v1"}}})
    assert "kubeadm.KubeletConfiguration.apiVersion: labkit sets it" in message


def test_v1beta3_style_extra_args_are_refused_early() -> None:
    data = {"kubeadm": {"ClusterConfiguration": {"apiServer": {"extraArgs": {"v": "4"}}}}}
    expected = "kubeadm.ClusterConfiguration.apiServer.extraArgs: kubeadm v1beta4 takes a list"
    assert expected in error_of(data)


def test_unknown_node_override_lists_the_nodes() -> None:
    message = error_of({"name": "demo", "workers": 1, "nodes": {"demo-worker2": {}}})
    assert "nodes.demo-worker2: no such node in this lab; the nodes are " in message
    assert "demo-control-plane, demo-worker" in message


def test_node_override_may_only_patch_its_own_document() -> None:
    data = {"workers": 1, "nodes": {"labkit-worker": {"kubeadm": {"KubeletConfiguration": {}}}}}
    message = error_of(data)
    assert "nodes.labkit-worker.kubeadm.KubeletConfiguration: " in message
    assert "shared by the whole cluster" in message and "JoinConfiguration" in message
    cp = {"nodes": {"labkit-control-plane": {"kubeadm": {"JoinConfiguration": {}}}}}
    assert "may only patch InitConfiguration" in error_of(cp)


# --- binaries ------------------------------------------------------------------------------


def test_missing_binary(tmp_path: Path) -> None:
    message = error_of({"binaries": {"kubeadm": str(tmp_path / "kubeadm")}})
    assert f"binaries.kubeadm: {tmp_path / 'kubeadm'} does not exist" in message


def test_binary_must_be_executable(tmp_path: Path) -> None:
    binary = write(tmp_path, "#!/bin/sh\n", "kubelet")
    assert "binaries.kubelet: " in error_of({"binaries": {"kubelet": str(binary)}})
    assert "is not executable; chmod +x it" in error_of({"binaries": {"kubelet": str(binary)}})


def test_binary_paths_are_relative_to_the_spec_file(tmp_path: Path) -> None:
    binary = write(tmp_path, "#!/bin/sh\n", "kubeadm")
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    (tmp_path / "labs").mkdir()
    spec = LabSpec.from_file(write(tmp_path, "binaries: {kubeadm: ../kubeadm}\n", "labs/a.yaml"))
    assert spec.binaries.kubeadm is not None
    assert os.path.samefile(spec.binaries.kubeadm, binary)
    assert spec.binaries.kubelet is None


# --- files ---------------------------------------------------------------------------------


def test_errors_from_a_file_start_with_its_name(tmp_path: Path) -> None:
    path = write(tmp_path, "workers: 2\nnetworking:\n  podSubnett: 10.1.0.0/16\n")
    with pytest.raises(LabkitError) as caught:
        LabSpec.from_file(path)
    assert str(caught.value) == (
        f"{path}: networking.podSubnett: unknown field; "
        "expected one of podSubnet, serviceSubnet, dnsDomain"
    )


def test_duplicate_keys_are_refused(tmp_path: Path) -> None:
    with pytest.raises(LabkitError, match="not valid YAML: duplicate key 'workers'"):
        LabSpec.from_file(write(tmp_path, "workers: 1\nname: a\nworkers: 2\n"))


def test_invalid_yaml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(LabkitError, match=r"lab\.yaml: not valid YAML"):
        LabSpec.from_file(write(tmp_path, "workers: [1\n"))
    with pytest.raises(LabkitError, match=r"nope\.yaml: cannot read the lab spec"):
        LabSpec.from_file(tmp_path / "nope.yaml")


# --- overrides from the CLI ----------------------------------------------------------------


def test_replace_validates_like_the_file(tmp_path: Path) -> None:
    spec = LabSpec.from_file(write(tmp_path, "workers: 1\n"))
    assert spec.replace(workers=3, cni="none").workers == 3
    assert spec.replace() is spec
    with pytest.raises(LabkitError) as caught:
        spec.replace(workers=11)
    assert str(caught.value).startswith(f"{tmp_path / 'lab.yaml'} (with workers=11): workers: 11")
    with pytest.raises(LabkitError, match="name: 'Bad' is not a lowercase DNS label"):
        spec.replace(name="Bad")


def test_replace_name_moves_node_overrides() -> None:
    spec = LabSpec.from_file(EXAMPLE).replace(name="other", kubernetes_version="v1.37.0")
    assert set(spec.nodes) == {"other-control-plane", "other-worker", "other-worker2"}
    assert str(spec.kubernetes_version) == "v1.37.0"


def test_replace_fewer_workers_than_overrides_is_an_error() -> None:
    with pytest.raises(LabkitError, match=r"nodes\.demo-worker2: no such node in this lab"):
        LabSpec.from_file(EXAMPLE).replace(workers=1)


def skewed(lab_version: str, node: str, node_version: str) -> dict:
    return {
        "name": "sk",
        "workers": 1,
        "kubernetesVersion": lab_version,
        "nodes": {f"sk-{node}": {"kubernetesVersion": node_version}},
    }


def test_a_worker_may_run_an_older_kubelet_in_its_release_image() -> None:
    spec = LabSpec.from_dict(skewed("v1.37.2", "worker", "v1.36.3"))
    worker = spec.node_names()[1]
    assert spec.version_of(worker) == KubernetesVersion.parse("v1.36.3")
    assert spec.image_of(worker) == "labkit/node:v1.36.3"
    assert spec.image_of(spec.control_plane) == "labkit/node:v1.37.2"
    assert [str(v) for v in spec.releases()] == ["v1.37.2", "v1.36.3"]
    assert LabSpec.from_dict(spec.to_dict()) == spec


def test_a_kubelet_newer_than_the_api_server_is_refused_naming_the_policy() -> None:
    message = error_of(skewed("v1.36.3", "worker", "v1.37.2"))
    assert (
        "nodes.sk-worker.kubernetesVersion: v1.37.2 is newer than the API server's v1.36.3; "
        "the version skew policy never allows a kubelet newer than the API server"
    ) in message


def test_a_control_plane_cannot_run_another_release() -> None:
    message = error_of(skewed("v1.37.2", "control-plane", "v1.36.3"))
    assert "nodes.sk-control-plane.kubernetesVersion: control planes run the lab's" in message


def test_a_kubelet_more_than_three_minors_older_is_refused_naming_the_policy() -> None:
    # The supported minors span three today; the policy holds for a wider span too.
    from labkit.spec.parse import _FieldError, _node_version

    worker = LabSpec.from_dict({"name": "sk", "workers": 1}).node_names()[1]
    with pytest.raises(_FieldError) as error:
        _node_version(
            {"kubernetesVersion": "v1.35.4"}, "nodes.sk-worker", worker, KubernetesVersion(1, 39, 0)
        )
    assert "4 minors older than the API server's v1.39.0" in str(error.value)
    assert "allows a kubelet at most 3 minors older" in str(error.value)


def test_example_spec_documents_node_resources_ports_and_mounts() -> None:
    from labkit.spec import PortMapping, Resources

    worker = LabSpec.from_file(EXAMPLE).nodes["demo-worker"]
    assert worker.resources == Resources(1.0, 2 * 2**30)
    assert worker.extra_port_mappings == (PortMapping(80, 18080, "127.0.0.1", "TCP"),)
    (mount,) = worker.extra_mounts
    assert (mount.host_path, mount.container_path, mount.read_only) == (
        EXAMPLE.parent,
        "/srv/examples",
        True,
    )
