"""ginkgo's JSON report and default output, read as labkit reads them: a recorded run of
e2e_kubeadm v1.37.2 on a 1 + 1 lab (`--ginkgo.skip='\\[copy-certs\\]'`), and that run
broken in the ways that must not read as a pass."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from labkit.errors import StepFailed
from labkit.suites.progress import SpecCounter
from labkit.suites.report import read_report

RECORDED = Path(__file__).parent / "suite_reports"
REPORT = json.loads((RECORDED / "e2e_kubeadm_v1.37.2.json").read_text())
OUTPUT = (RECORDED / "e2e_kubeadm_v1.37.2.out").read_text()


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "report.json"
    path.write_text(json.dumps(data))
    return path


def test_the_recorded_run_reads_as_it_went(tmp_path: Path) -> None:
    result = read_report(write(tmp_path, REPORT), suite="kubeadm")
    assert (result.total_specs, result.will_run) == (39, 36)
    assert (len(result.passed), len(result.failed), len(result.skipped)) == (35, 0, 1)
    assert len(result.not_selected) == 3
    assert all("[copy-certs]" in s.name for s in result.not_selected)
    assert result.skipped[0].message == "Skipping because cluster is not dual-stack"
    assert result.ok and result.succeeded
    assert result.slowest(1)[0].name.endswith(
        "should not delete the token secret when the secret is not expired"
    )
    assert round(result.seconds, 1) == 29.7


def test_a_failed_spec_fails_the_result_with_its_message(tmp_path: Path) -> None:
    broken = copy.deepcopy(REPORT)
    spec = broken[0]["SpecReports"][0]
    spec["State"] = "failed"
    spec["Failure"] = {
        "Message": "Expected\n    <string>: x\nto equal\n    <string>: y",
        "Location": {"FileName": "test/e2e_kubeadm/dns_addon_test.go", "LineNumber": 91},
    }
    broken[0]["SuiteSucceeded"] = False
    result = read_report(write(tmp_path, broken), suite="kubeadm")
    assert not result.ok
    assert [s.location for s in result.failed] == ["test/e2e_kubeadm/dns_addon_test.go:91"]
    summary = str(result)
    assert "34 passed, 1 failed" in summary
    assert "FAILED (failed) [sig-cluster-lifecycle]" in summary
    assert "  to equal" in summary


def test_labels_of_containers_without_labels_are_read(tmp_path: Path) -> None:
    # e2e.test's reports carry null for a container that has no labels.
    report = copy.deepcopy(REPORT)
    report[0]["SpecReports"][0]["ContainerHierarchyLabels"] = [None, ["Conformance"]]
    report[0]["SpecReports"][0]["LeafNodeLabels"] = None
    result = read_report(write(tmp_path, report), suite="kubeadm")
    assert result.specs[0].labels == ("Conformance",)


@pytest.mark.parametrize("state", ["panicked", "timedout", "interrupted", "aborted"])
def test_every_state_that_is_not_a_pass_is_a_failure(tmp_path: Path, state: str) -> None:
    broken = copy.deepcopy(REPORT)
    broken[0]["SpecReports"][0]["State"] = state
    assert not read_report(write(tmp_path, broken), suite="kubeadm").ok


def test_a_failure_outside_any_spec_fails_the_result(tmp_path: Path) -> None:
    broken = copy.deepcopy(REPORT)
    broken[0]["SpecReports"].append(
        {
            "LeafNodeType": "SynchronizedBeforeSuite",
            "State": "failed",
            "RunTime": 5,
            "Failure": {"Message": "the API server did not answer"},
        }
    )
    broken[0]["SuiteSucceeded"] = False
    result = read_report(write(tmp_path, broken), suite="kubeadm")
    assert [s.name for s in result.failed] == ["[SynchronizedBeforeSuite]"]
    assert not result.ok


def test_ginkgo_saying_the_suite_failed_is_a_failure_even_with_no_failed_spec(
    tmp_path: Path,
) -> None:
    broken = copy.deepcopy(REPORT)
    broken[0]["SuiteSucceeded"] = False
    broken[0]["SpecialSuiteFailureReasons"] = ["Interrupted by User"]
    result = read_report(write(tmp_path, broken), suite="kubeadm")
    assert not result.ok
    assert "FAILED suite: Interrupted by User" in str(result)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r.clear(), "expected a list of suite reports"),
        (lambda r: r[0].pop("PreRunStats"), "[0].PreRunStats: expected dict, found nothing"),
        (
            lambda r: r[0]["PreRunStats"].update(TotalSpecs="39"),
            "[0].PreRunStats.TotalSpecs: expected int, found '39'",
        ),
        (lambda r: r[0].pop("SuiteSucceeded"), "[0].SuiteSucceeded: expected bool"),
        (
            lambda r: r[0]["SpecReports"][2].update(State="fine"),
            "[0].SpecReports[2].State: 'fine' is not a ginkgo spec state",
        ),
        (
            lambda r: r[0]["SpecReports"][1].pop("State"),
            "[0].SpecReports[1].State: expected str, found nothing",
        ),
    ],
)
def test_a_broken_report_is_refused_naming_the_field(tmp_path: Path, mutate, message) -> None:
    broken = copy.deepcopy(REPORT)
    mutate(broken)
    with pytest.raises(StepFailed) as refused:
        read_report(write(tmp_path, broken), suite="kubeadm")
    assert message in str(refused.value)


def test_a_report_that_is_not_json_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_text('[{"PreRunStats": ')
    with pytest.raises(StepFailed, match="cannot be read as JSON"):
        read_report(path, suite="kubeadm")


@pytest.mark.parametrize("piece", [1, 7, 4096])
def test_the_recorded_output_counts_every_spec_in_pieces_of_any_size(piece: int) -> None:
    counter = SpecCounter()
    for start in range(0, len(OUTPUT), piece):
        counter.feed(OUTPUT[start : start + piece])
    assert (counter.done, counter.skipped, counter.failed, counter.total) == (35, 4, 0, 36)


def test_a_failure_block_counts_as_a_failed_spec() -> None:
    counter = SpecCounter()
    counter.feed(
        "Will run 3 of 3 specs\n••\n------------------------------\n"
        "• [FAILED] [0.012 seconds]\n[sig-x] y [It] z\n  STEP: Specs\n  [FAILED] boom\n"
        "------------------------------\n\nRan 3 of 3 Specs in 1.0 seconds\n"
        "FAIL! -- 2 Passed | 1 Failed | 0 Pending | 0 Skipped\n"
    )
    assert (counter.done, counter.failed, counter.skipped) == (3, 1, 0)


def test_a_line_of_text_starting_like_a_mark_is_not_counted() -> None:
    counter = SpecCounter()
    counter.feed("S")
    assert counter.skipped == 1
    counter.feed("UCCESS! -- 0 Passed\n")
    assert (counter.done, counter.skipped) == (0, 0)
