"""Rewrite the committed Go modules (`gomod/<component>/`) for the default versions."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from labkit.nodeimage import components, gomod
from labkit.nodeimage.build import kubernetes_go_mod
from labkit.versions import DEFAULT_VERSION


def update_committed_modules(
    log: Callable[[str], None], into: Path = gomod.COMMITTED_MODULES
) -> list[Path]:
    """Each component's go.mod and go.sum for the default versions, written to `into`
    (the committed ones by default); returns the module directories written."""
    version = DEFAULT_VERSION
    kubernetes = components.kubernetes(version, kubernetes_go_mod(version))
    written = [_write(kubernetes, log, into)]
    kubeadm = gomod.build(kubernetes, log) / "kubeadm"
    listing = subprocess.run(
        [str(kubeadm), "config", "images", "list", "--kubernetes-version", str(version)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    images = components.KubeadmImages.parse(listing)
    for component in (
        components.etcd(images),
        components.coredns(images),
        components.cri_tools(),
        components.flannel(),
        components.flannel_cni_plugin(),
        components.containerd(),
        components.runc(),
        components.cni_plugins(),
        components.distribution(),
    ):
        written.append(_write(component, log, into))
    return written


def _write(component: gomod.GoComponent, log: Callable[[str], None], into: Path) -> Path:
    target = into / component.name
    gomod.write_module(component, target, log)
    return target
