"""A Conformance subset within a CI budget, on a 1 + 2 lab with no registry: at least one
spec of every SIG the Conformance suite has, and at least one spec running each test
image a Conformance spec runs from a node's store (agnhost, busybox, nginx, nautilus,
nonewprivs, glibc-dns-testing, sample-apiserver), all from one ginkgo run. kitten's one
Conformance spec mounts it as an image volume with pull policy Always, which needs a
registry by design; nonroot runs in no Conformance spec. `make conformance` runs every
spec."""

from __future__ import annotations

import re
from typing import Any

import pytest

from labkit.suites.report import SuiteResult

pytestmark = pytest.mark.lab(workers=2)

# Spec name -> the test images it runs (besides pause).
SUBSET = {
    "[sig-architecture] Conformance Tests should have at least two untainted nodes": (),
    "[sig-api-machinery] Garbage collector should delete RS created by deployment when not "
    "orphaning": ("nginx",),
    "[sig-api-machinery] Aggregator Should be able to support the 1.17 Sample API Server using "
    "the current Aggregator": ("sample-apiserver", "etcd"),
    "[sig-apps] Deployment RollingUpdateDeployment should delete old pods and create new ones": (
        "agnhost",
    ),
    "[sig-auth] ServiceAccounts should mount an API token into pods": ("agnhost",),
    "[sig-cli] Kubectl client Update Demo should create and stop a replication controller": (
        "nautilus",
    ),
    "[sig-instrumentation] Events should manage the lifecycle of an event": (),
    "[sig-network] DNS should provide /etc/hosts entries for the cluster": (
        "agnhost",
        "glibc-dns-testing",
    ),
    "[sig-node] Kubelet when scheduling a busybox command in a pod should print the output to "
    "logs": ("busybox",),
    "[sig-node] ConfigMap should be consumable via the environment": ("busybox",),
    "[sig-node] Security Context when creating containers with AllowPrivilegeEscalation should "
    "not allow privilege escalation when false": ("nonewprivs",),
    "[sig-scheduling] LimitRange should create a LimitRange with defaults and ensure pod has "
    "those defaults applied.": (),
    "[sig-storage] EmptyDir volumes should support (root,0644,tmpfs)": ("agnhost",),
}
# The SIGs of the release's Conformance specs (e2e.test's dry run, v1.37.2).
CONFORMANCE_SIGS = {
    "api-machinery",
    "apps",
    "architecture",
    "auth",
    "cli",
    "instrumentation",
    "network",
    "node",
    "scheduling",
    "storage",
}
PARALLEL = 3


@pytest.fixture(scope="module")
def subset(lab_conformance: Any) -> SuiteResult:
    focus = [re.escape(name) for name in SUBSET]
    return lab_conformance("conformance", focus=focus, parallel=PARALLEL)


def test_every_spec_of_the_subset_passes(subset: SuiteResult) -> None:
    assert subset.ok, subset.failures_text()
    passed = {spec.name for spec in subset.passed}
    for name in SUBSET:
        assert any(p.startswith(name) for p in passed), f"{name} did not run: {subset.summary()}"


def test_the_subset_covers_every_sig(subset: SuiteResult) -> None:
    sigs = {re.match(r"\[sig-([\w-]+)\]", spec.name)[1] for spec in subset.passed}  # type: ignore[index]
    assert sigs == CONFORMANCE_SIGS
