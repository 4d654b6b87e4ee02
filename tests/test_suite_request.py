"""What a suite run asks of ginkgo: refusals before anything runs, the skips a lab's shape
adds, and the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from labkit.errors import LabkitError
from labkit.suites.ginkgo import SuiteInvocation
from labkit.suites.suites import COPY_CERTS, MULTI_NODE, LabShape, SuiteRequest

ONE_NODE = LabShape(control_planes=1, nodes=1, kubeconfig=Path("/k"))
ONE_PLUS_TWO = LabShape(control_planes=1, nodes=3, kubeconfig=Path("/k"))
HA = LabShape(control_planes=3, nodes=4, kubeconfig=Path("/k"))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"suite": "e2e"}, "suite: 'e2e' is not a suite labkit runs; expected one of kubeadm"),
        ({"parallel": 0}, "parallel: expected 1 or more processes, found 0"),
        ({"parallel": "2"}, "parallel: expected a number of processes, found '2'"),
        ({"parallel": True}, "parallel: expected a number of processes, found True"),
        ({"focus": ("",)}, "focus: expected a regular expression, found ''"),
        ({"skip": ("[copy-certs",)}, "skip: '[copy-certs' is not a regular expression"),
        ({"focus": ("(unbalanced",)}, "focus: '(unbalanced' is not a regular expression"),
        ({"focus": ("a(?=b)",)}, "focus: 'a(?=b)': Go's regexp (RE2), which ginkgo uses, has no"),
        ({"skip": (r"(a)\1",)}, "skip: '(a)\\\\1': Go's regexp (RE2), which ginkgo uses, has no"),
    ],
)
def test_a_bad_request_is_refused_naming_the_field(fields: dict, message: str) -> None:
    with pytest.raises(LabkitError) as refused:
        SuiteRequest(**fields)
    assert str(refused.value).startswith(message)


@pytest.mark.parametrize(
    ("shape", "skips"),
    [
        (ONE_NODE, (COPY_CERTS, MULTI_NODE)),
        (ONE_PLUS_TWO, (COPY_CERTS,)),
        (HA, ()),
    ],
)
def test_kubeadm_suite_skips_what_the_lab_shape_cannot_have(
    shape: LabShape, skips: tuple[str, ...]
) -> None:
    assert SuiteRequest(suite="kubeadm", skip=("mine",)).skips(shape) == ("mine", *skips)


def test_conformance_suite_adds_no_skips_of_its_own() -> None:
    assert SuiteRequest(suite="conformance").skips(ONE_NODE) == ()


def test_the_command_passes_filters_as_they_are_and_reports_into_the_folder() -> None:
    invocation = SuiteInvocation(
        request=SuiteRequest(suite="conformance", focus=(r"\[sig-node\]",), parallel=3),
        lab=ONE_PLUS_TWO,
        ginkgo=Path("/bin/ginkgo"),
        binary=Path("/bin/e2e.test"),
        report_dir=Path("/r"),
        suite_args=("--kubeconfig=/k",),
    )
    command = invocation.command()
    assert command[:2] == ["/bin/ginkgo", "run"]
    assert "--procs=3" in command
    assert "--label-filter=Conformance" in command
    assert r"--focus=\[sig-node\]" in command
    assert "--json-report=report.json" in command and "--output-dir=/r" in command
    assert command[-3:] == ["/bin/e2e.test", "--", "--kubeconfig=/k"]
    dry = invocation.command(dry_run=True)
    assert "--dry-run" in dry and not any(c.startswith("--procs") for c in dry)
