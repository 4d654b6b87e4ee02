"""The lab registry's naming: where a reference is stored, what each node's containerd
reads, and what the cluster advertises (no Docker needed)."""

from __future__ import annotations

import tomllib

import pytest
import yaml

from labkit.errors import LabkitError
from labkit.lab.registry import MIRRORED_HOSTS, local_registry_hosting, mirror_files
from labkit.nodeimage.registry_image import split_reference, stored_names

PORT = 25001


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("busybox", ("docker.io", "library/busybox", "latest")),
        ("busybox:1.37", ("docker.io", "library/busybox", "1.37")),
        ("me/app:1", ("docker.io", "me/app", "1")),
        ("docker.io/labkit/toolbox:trixie", ("docker.io", "labkit/toolbox", "trixie")),
        ("registry.k8s.io/pause:3.10.1", ("registry.k8s.io", "pause", "3.10.1")),
        ("localhost:25001/app:2", ("localhost:25001", "app", "2")),
        ("localhost/app", ("localhost", "app", "latest")),
        ("ghcr.io/flannel-io/flannel:v0.28.4", ("ghcr.io", "flannel-io/flannel", "v0.28.4")),
    ],
)
def test_references_split_the_way_docker_reads_them(reference: str, expected: tuple) -> None:
    assert split_reference(reference) == expected


def test_a_digest_is_refused_with_what_to_push_instead() -> None:
    with pytest.raises(LabkitError, match=r"a digest names no tag to push; push a tagged"):
        split_reference("busybox@sha256:" + "0" * 64)


def test_an_image_is_stored_under_its_mirror_namespace_and_its_short_name() -> None:
    assert [str(n) for n in stored_names("app:1", PORT)] == ["docker.io/library/app:1", "app:1"]
    assert [str(n) for n in stored_names("quay.io/org/tool:v2", PORT)] == [
        "quay.io/org/tool:v2",
        "org/tool:v2",
    ]
    # kind's convention names the registry itself: stored once, as pushed.
    assert [str(n) for n in stored_names(f"localhost:{PORT}/app:1", PORT)] == ["app:1"]


def test_every_mirrored_host_is_served_by_the_registry_alone_under_its_namespace() -> None:
    files = mirror_files("10.201.7.9", PORT)
    assert set(files) == {
        *(f"/etc/containerd/certs.d/{host}/hosts.toml" for host in MIRRORED_HOSTS),
        f"/etc/containerd/certs.d/localhost:{PORT}/hosts.toml",
    }
    hub = tomllib.loads(files["/etc/containerd/certs.d/docker.io/hosts.toml"])
    # The registry is the server, not a mirror in front of one: nothing falls back to a
    # host name that does not resolve here.
    assert hub == {
        "server": "http://10.201.7.9:5000/v2/docker.io",
        "override_path": True,
        "capabilities": ["pull", "resolve"],
    }
    local = tomllib.loads(files[f"/etc/containerd/certs.d/localhost:{PORT}/hosts.toml"])
    assert local["server"] == "http://10.201.7.9:5000" and "override_path" not in local


def test_the_cluster_advertises_the_registry_as_kep_1755_says() -> None:
    data = local_registry_hosting("10.201.7.9", PORT)
    hosting = yaml.safe_load(data["localRegistryHosting.v1"])
    assert hosting["host"] == f"localhost:{PORT}"
    assert hosting["hostFromContainerRuntime"] == "10.201.7.9:5000"
    assert hosting["hostFromClusterNetwork"] == "10.201.7.9:5000"
    assert hosting["help"].startswith("https://github.com/kubernetes/enhancements/")
