"""Gating an installer build: the lab runs the user's own kubeadm, not the image's.

The "user build" is kubeadm compiled from the same module with a version string of its
own, so that the node can tell which binary ran `kubeadm init` and `kubeadm join`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path

import pytest

from labkit.nodeimage import components, gomod
from labkit.nodeimage.build import kubernetes_go_mod
from labkit.suites.shared import kubeadm_suite_problems_with_one_control_plane
from labkit.versions import DEFAULT_VERSION

USER_VERSION = f"{DEFAULT_VERSION}-labkit.user"


@pytest.fixture(scope="module")
def user_kubeadm() -> Path:
    image_build = components.kubernetes(DEFAULT_VERSION, kubernetes_go_mod(DEFAULT_VERSION))
    ldflags = tuple(
        flag.replace(f"gitVersion={DEFAULT_VERSION}", f"gitVersion={USER_VERSION}")
        for flag in image_build.ldflags
    )
    user_build = dataclasses.replace(
        image_build, name="kubernetes", ldflags=ldflags, packages=("k8s.io/kubernetes/cmd/kubeadm",)
    )
    binary = gomod.build(user_build, log=lambda line: None) / "kubeadm"
    assert os.access(binary, os.X_OK)
    return binary


@pytest.fixture(scope="module")
def lab_spec(user_kubeadm: Path) -> dict:
    return {"workers": 1, "binaries": {"kubeadm": str(user_kubeadm)}}


def test_every_node_runs_the_users_kubeadm(lab, user_kubeadm) -> None:
    expected = hashlib.sha256(user_kubeadm.read_bytes()).hexdigest()
    for node in lab.nodes:
        digest = node.exec(["sha256sum", "/usr/bin/kubeadm"]).stdout.split()[0]
        assert digest == expected, node.name
        assert node.exec(["kubeadm", "version", "-o", "short"]).stdout.strip() == USER_VERSION


def test_the_binary_was_in_place_before_kubeadm_ran(lab) -> None:
    steps = list(lab.bringup_record()["timings"])
    assert steps.index("install user binaries") < steps.index("kubeadm init")
    assert steps.index("kubeadm init") < steps.index("join workers + install CNI")


def test_the_lab_built_by_the_users_kubeadm_is_ready(lab) -> None:
    from kubernetes import client as k8s

    from labkit.lab.waits import is_ready

    nodes = k8s.CoreV1Api(lab.api_client()).list_node().items
    assert {n.metadata.name for n in nodes if is_ready(n)} == {n.name for n in lab.nodes}


def test_kubeadms_e2e_suite_passes_on_the_lab_the_users_kubeadm_built(lab_conformance) -> None:
    """What an installer gate runs after its own kubeadm built a lab: kinder's e2e_kubeadm.
    Only `[copy-certs]` is left out (one control plane: no kubeadm-certs Secret)."""
    problems = kubeadm_suite_problems_with_one_control_plane(lab_conformance("kubeadm"))
    assert not problems, "\n".join(problems)
