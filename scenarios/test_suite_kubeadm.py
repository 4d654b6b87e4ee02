"""kubeadm's own e2e suite (e2e_kubeadm, as kinder runs it after every workflow) on labs
of the shapes an installer produces: plain, `kubeadm init` phase by phase, and a custom
ClusterConfiguration. Every spec that applies to the shape passes; the only specs left out
are the ones the shape cannot have, and a spec that skips itself says why."""

from __future__ import annotations

from typing import Any

import pytest

from labkit.suites.report import SuiteResult
from labkit.suites.shared import applicable_spec_problems, check_spec
from labkit.suites.specs import spec_names
from labkit.suites.suites import COPY_CERTS, KUBEADM_SELF_SKIPS, MULTI_NODE
from labkit.versions import DEFAULT_KUBERNETES_VERSION, KubernetesVersion

pytestmark = pytest.mark.lab(workers=1)

# The prefix every e2e_kubeadm spec shares; test ids leave it out.
SPEC_PREFIX = "[sig-cluster-lifecycle] [area-kubeadm] "


def assert_every_applicable_spec_passed(result: SuiteResult, *, left_out: tuple[str, ...]) -> None:
    problems = applicable_spec_problems(result, left_out=left_out, self_skips=KUBEADM_SELF_SKIPS)
    assert not problems, "\n".join(problems)
    assert len(result.passed) >= 30, result.summary()


def test_every_applicable_spec_passes_on_a_plain_lab(lab_conformance: Any) -> None:
    result = lab_conformance("kubeadm")
    assert_every_applicable_spec_passed(result, left_out=(COPY_CERTS,))
    assert any("[multi-node]" in s.name for s in result.passed)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One item per spec of the release's e2e_kubeadm (its dry run), so `-k` picks specs
    and each passes or fails with its own message; the suite runs once for all of them."""
    if "kubeadm_spec" not in metafunc.fixturenames:
        return
    config = metafunc.config
    release = (
        config.getoption("lab_kubernetes_version")
        or config.getini("lab_kubernetes_version")
        or DEFAULT_KUBERNETES_VERSION
    )
    names = spec_names("kubeadm", KubernetesVersion.parse(release))
    metafunc.parametrize("kubeadm_spec", names, ids=[n.removeprefix(SPEC_PREFIX) for n in names])


def test_kubeadm_spec(lab_conformance: Any, kubeadm_spec: str) -> None:
    check_spec(lab_conformance.spec(kubeadm_spec))


def test_the_results_are_shared_by_the_module(lab_conformance: Any) -> None:
    assert lab_conformance("kubeadm") is lab_conformance("kubeadm")


@pytest.mark.parametrize(
    "shape",
    [
        pytest.param({"workers": 0, "init": "phases"}, id="init-phases-one-node"),
        pytest.param(
            {
                "workers": 0,
                "kubeadm": {
                    "ClusterConfiguration": {
                        "encryptionAlgorithm": "ECDSA-P256",
                        "apiServer": {"extraArgs": [{"name": "profiling", "value": "false"}]},
                    }
                },
            },
            id="custom-config-one-node",
        ),
    ],
)
def test_every_applicable_spec_passes_on_other_shapes(
    lab_factory: Any, shape: dict[str, Any]
) -> None:
    lab = lab_factory(**shape)
    result = lab.conformance("kubeadm")
    assert_every_applicable_spec_passed(result, left_out=(COPY_CERTS, MULTI_NODE))
