"""kubeadm's own e2e suite (e2e_kubeadm, as kinder runs it after every workflow) on labs
of the shapes an installer produces: plain, `kubeadm init` phase by phase, and a custom
ClusterConfiguration. Every spec that applies to the shape passes; the only specs left out
are the ones the shape cannot have, and a spec that skips itself says why."""

from __future__ import annotations

from typing import Any

import pytest

from labkit.suites.report import SuiteResult
from labkit.suites.suites import COPY_CERTS, MULTI_NODE

pytestmark = pytest.mark.lab(workers=1)

# Specs e2e_kubeadm skips by itself on a single-stack lab (networking_test.go).
SINGLE_STACK_SKIP = "Skipping because cluster is not dual-stack"


def assert_every_applicable_spec_passed(result: SuiteResult, *, left_out: tuple[str, ...]) -> None:
    assert result.ok, result.failures_text()
    assert len(result.passed) >= 30, result.summary()
    for spec in result.not_selected:
        assert any(tag.replace("\\", "") in spec.name for tag in left_out), spec.name
    assert all(spec.message == SINGLE_STACK_SKIP for spec in result.skipped), [
        (s.name, s.message) for s in result.skipped
    ]


def test_every_applicable_spec_passes_on_a_plain_lab(lab_conformance: Any) -> None:
    result = lab_conformance("kubeadm")
    assert_every_applicable_spec_passed(result, left_out=(COPY_CERTS,))
    assert any("[multi-node]" in s.name for s in result.passed)


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
