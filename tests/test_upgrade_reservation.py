"""`lab upgrade` gives kubeadm upgrade apply/node the patches directory each node was
brought up with, so that a limited node's kubelet reservation survives the upgrade."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from labkit.constants import KUBEADM_CONFIG, KUBEADM_UPGRADE_CONFIG, KUBELET_PATCHES_DIR
from labkit.kubeadm.config import init_config, join_config
from labkit.lab import upgrade
from labkit.lab.node_limits import patches_directory_of
from labkit.spec import LabSpec, NodeSpec, node_options
from labkit.versions import KubernetesVersion

GIB = 2**30
TOKEN = "abcdef.0123456789abcdef"
CA_PIN = "sha256:" + "0" * 64
TARGET = KubernetesVersion.parse("v1.37.2")


@pytest.fixture(autouse=True)
def a_cgroup_v2_host_of_4_cpus_and_8_gib(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(node_options, "host_capacity", lambda: (4, 8 * GIB))
    monkeypatch.setattr("labkit.kubeadm.config.cgroup_mode", lambda: "v2")
    monkeypatch.setattr(upgrade.host, "cgroup_mode", lambda: "v2")


def spec(**data: Any) -> LabSpec:
    return LabSpec.from_dict({"name": "demo", "workers": 1, **data}, source="lab.yaml")


def worker_of(lab: LabSpec) -> NodeSpec:
    (worker,) = [n for n in lab.node_names() if not n.is_control_plane]
    return worker


def rendered_configs(lab: LabSpec) -> dict[str, str]:
    """What bring-up writes to KUBEADM_CONFIG on the control plane and on the worker."""
    worker = worker_of(lab)
    return {
        lab.control_plane.name: init_config(lab, lab.control_plane, "10.0.0.2", TOKEN),
        worker.name: join_config(lab, worker, "10.0.0.3", "demo-control-plane:6443", TOKEN, CA_PIN),
    }


def test_a_limited_node_was_given_the_patches_directory_and_the_others_none() -> None:
    lab = spec(nodes={"demo-worker": {"resources": {"cpus": 1, "memory": "2Gi"}}})
    configs = rendered_configs(lab)
    assert patches_directory_of(configs["demo-worker"]) == KUBELET_PATCHES_DIR
    assert patches_directory_of(configs["demo-control-plane"]) is None


def test_lab_wide_resources_give_every_node_the_patches_directory() -> None:
    configs = rendered_configs(spec(resources={"memory": "2Gi"}))
    assert {patches_directory_of(c) for c in configs.values()} == {KUBELET_PATCHES_DIR}


def test_a_users_own_patches_directory_is_the_one_found() -> None:
    lab = spec(kubeadm={"JoinConfiguration": {"patches": {"directory": "/etc/my-patches"}}})
    assert patches_directory_of(rendered_configs(lab)["demo-worker"]) == "/etc/my-patches"


def test_apply_and_node_get_the_patches_directory_and_plan_does_not() -> None:
    document = yaml.safe_load(
        upgrade.upgrade_configuration(TARGET, patches_directory=KUBELET_PATCHES_DIR)
    )
    assert document["apply"]["patches"] == {"directory": KUBELET_PATCHES_DIR}
    assert document["node"]["patches"] == {"directory": KUBELET_PATCHES_DIR}
    # v1beta4's UpgradePlanConfiguration has no patches: kubeadm would refuse the field.
    assert "patches" not in document["plan"]


def test_without_a_patches_directory_kubeadm_is_given_none() -> None:
    # kubeadm refuses a patches directory that does not exist on the node.
    document = yaml.safe_load(upgrade.upgrade_configuration(TARGET))
    assert all("patches" not in document[s] for s in ("plan", "apply", "node"))


class ConfiguredNode:
    """A node whose KUBEADM_CONFIG is what bring-up wrote there; records what is written."""

    def __init__(self, config: str) -> None:
        self.files = {KUBEADM_CONFIG: config.encode()}

    def read_file(self, path: str) -> bytes:
        return self.files[path]

    def write_file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        self.files[path] = data


@pytest.mark.parametrize(("limited", "expected"), [(True, KUBELET_PATCHES_DIR), (False, None)])
def test_each_node_is_given_its_own_patches_directory(limited: bool, expected: str | None) -> None:
    resources = {"resources": {"memory": "2Gi"}} if limited else {}
    lab = spec(nodes={"demo-worker": resources})
    node = ConfiguredNode(rendered_configs(lab)["demo-worker"])
    upgrade.write_upgrade_configuration(node, TARGET)  # type: ignore[arg-type]
    written = yaml.safe_load(node.files[KUBEADM_UPGRADE_CONFIG])
    assert written["node"].get("patches", {}).get("directory") == expected
    assert written["apply"].get("patches", {}).get("directory") == expected
