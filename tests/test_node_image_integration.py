"""The node image, booted through labkit's own node code: a host kubeadm can work on.

Needs a Docker engine and the node image (`make image`); marked `integration`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from labkit import host
from labkit.host.kernel import cgroup_mode
from labkit.kubeadm import BootstrapToken, init_config, join_config
from labkit.kubeadm.config import preflight_errors_to_skip
from labkit.lab.model import delete_lab
from labkit.lab.network import create_network
from labkit.lab.node import Node, create_node
from labkit.nodeimage.built import built_node_images
from labkit.spec import LabSpec
from labkit.versions import (
    CNI_PLUGINS_VERSION,
    CONTAINERD_VERSION,
    DEBIAN_SUITE,
    DEFAULT_VERSION,
    RUNC_VERSION,
)

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "lab.yaml"


@pytest.fixture(scope="module")
def node() -> Iterator[Node]:
    client = host.docker_client()
    image = DEFAULT_VERSION.node_image
    try:
        client.images.get(image)
    except Exception:
        pytest.fail(f"node image {image} is missing: run `make image`")
    lab = f"lk-image-test-{uuid.uuid4().hex[:6]}"
    try:
        network = create_network(client, lab)
        node = create_node(
            client,
            lab=lab,
            name=f"{lab}-control-plane",
            role="control-plane",
            image=image,
            network=network,
            runtime=host.node_runtime(client),
        )
        node.wait_for_systemd()
        yield node
    finally:
        delete_lab(client, lab)


def test_the_image_declares_no_volume() -> None:
    # A declared VOLUME gives every container an anonymous volume that outlives
    # `docker rm` without -v (a reader of one file, kind's deletes) and carries no label.
    config = host.docker_client().images.get(DEFAULT_VERSION.node_image).attrs["Config"]
    assert not config.get("Volumes"), config.get("Volumes")


def test_systemd_is_running(node: Node) -> None:
    state = node.exec(["systemctl", "is-system-running", "--wait"], check=False, timeout=60)
    assert state.stdout.strip() in ("running", "degraded"), state
    failed = node.exec(["systemctl", "--failed", "--no-legend", "--plain"]).stdout
    assert state.stdout.strip() == "running", f"failed units: {failed}"


def test_cri_answers(node: Node) -> None:
    info = node.exec(["crictl", "info"], timeout=30)
    assert '"RuntimeReady"' in info.stdout


def test_kubeadm_is_the_pinned_release(node: Node) -> None:
    version = node.exec(["kubeadm", "version", "-o", "short"]).stdout.strip()
    assert version == str(DEFAULT_VERSION)
    assert node.exec(["kubelet", "--version"]).stdout.strip() == f"Kubernetes {DEFAULT_VERSION}"


def test_the_runtime_is_labkits_build_at_the_pinned_releases(node: Node) -> None:
    containerd = node.exec(["containerd", "--version"]).stdout.split()
    assert containerd[1:3] == ["github.com/containerd/containerd/v2", CONTAINERD_VERSION]
    runc = node.exec(["runc", "--version"]).stdout
    assert f"runc version {RUNC_VERSION.lstrip('v')}" in runc
    # runc's seccomp support is linked in: it names the libseccomp it was built with.
    assert "libseccomp: 2." in runc, runc
    bridge = node.exec(["/opt/cni/bin/bridge", "--version"], check=False)
    assert f"CNI bridge plugin {CNI_PLUGINS_VERSION}" in bridge.stdout + bridge.stderr
    # Debian's runtime packages are not installed beside labkit's build.
    packages = node.exec(["dpkg-query", "-W", "-f", "${Package}\\n"]).stdout.split()
    assert not {"containerd", "runc", "containernetworking-plugins"} & set(packages)


def test_the_node_runs_the_debian_suite_labkit_names(node: Node) -> None:
    os_release = node.exec(["cat", "/etc/os-release"]).stdout
    assert f"VERSION_CODENAME={DEBIAN_SUITE}" in os_release


def test_containerd_serves_the_config_labkit_wrote(node: Node) -> None:
    config = node.exec(["containerd", "config", "dump"], timeout=30).stdout
    assert "config_path = '/etc/containerd/certs.d'" in config
    assert "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.test-handler]" in config


def test_the_image_labels_record_every_component(node: Node) -> None:
    (image,) = [
        image
        for image in built_node_images(host.docker_client())
        if DEFAULT_VERSION.node_image in image.references
    ]
    recorded = dict(image.components)
    assert recorded["containerd"] == CONTAINERD_VERSION
    assert recorded["kubernetes"] == str(DEFAULT_VERSION)
    assert {"runc", "cni-plugins", "crictl", "etcd", "coredns", "pause", "flannel"} <= set(recorded)


def test_every_kubeadm_image_is_preloaded(node: Node) -> None:
    wanted = node.exec(
        ["kubeadm", "config", "images", "list", "--kubernetes-version", str(DEFAULT_VERSION)]
    ).stdout.split()
    present = node.exec(["crictl", "images", "-o", "json"]).stdout
    missing = [image for image in wanted if f'"{image}"' not in present]
    assert wanted and not missing, f"not preloaded: {missing}"


PREFLIGHT_CONFIG = f"""\
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
nodeRegistration:
  criSocket: unix:///run/containerd/containerd.sock
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: {DEFAULT_VERSION}
"""


def test_kubeadm_preflight_passes(node: Node) -> None:
    node.write_file("/etc/labkit/preflight.yaml", PREFLIGHT_CONFIG.encode())
    # No preflight error is ignored but those labkit skips by name on this host (cgroup v1
    # fails SystemVerification from 1.35): the node container passes every other check.
    skipped = preflight_errors_to_skip(DEFAULT_VERSION, host_cgroup_v1=cgroup_mode() != "v2")
    ignore = [f"--ignore-preflight-errors={','.join(skipped)}"] if skipped else []
    result = node.exec(
        [
            "kubeadm",
            "init",
            "phase",
            "preflight",
            "--config",
            "/etc/labkit/preflight.yaml",
            *ignore,
        ],
        check=False,
        timeout=120,
    )
    assert result.ok, result.stdout + result.stderr
    assert "[preflight]" in result.stdout + result.stderr


def test_kubeadm_accepts_the_rendered_config(node: Node) -> None:
    """The documented example's init and join configs, every patch merged in, pass the
    pinned kubeadm's own validation (unknown fields and bad values are errors there)."""
    spec = LabSpec.from_file(EXAMPLE).replace(kubernetes_version=str(DEFAULT_VERSION))
    token = BootstrapToken.generate()
    configs = {
        "init.yaml": init_config(
            spec, spec.control_plane, "172.18.0.2", token, api_server_cert_sans=["172.18.0.2"]
        ),
        "join.yaml": join_config(
            spec,
            spec.node_names()[-1],
            "172.18.0.4",
            f"{spec.control_plane.name}:6443",
            token,
            "sha256:" + "0f" * 32,
        ),
    }
    for name, text in configs.items():
        node.write_file(f"/etc/labkit/{name}", text.encode())
        result = node.exec(
            ["kubeadm", "config", "validate", "--config", f"/etc/labkit/{name}"],
            check=False,
            timeout=60,
        )
        assert result.ok, f"{name}:\n{text}\n{result.stdout}{result.stderr}"
