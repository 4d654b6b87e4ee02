"""`labkit check` while the API server restarts: a changed flag in its static pod manifest
makes the kubelet restart it, and `check` run in that window still reports every node
finding (the changed flag among them), reports the cluster rules as not checked rather
than passed or a traceback, and exits 1; `check --wait` then waits for the API server and
runs the cluster rules. The manifest is restored at the end.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from labkit.checks import cluster_rules
from labkit.cli import main
from labkit.constants import manifest_path
from labkit.facade import Lab
from labkit.lab.api import wait_for_api

pytestmark = pytest.mark.lab(workers=0)

APISERVER_MANIFEST = manifest_path("kube-apiserver")
# A flag kubeadm renders that the API server starts with either way, so it comes back.
DEFAULT_FLAG = "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname"
CHANGED_FLAG = "--kubelet-preferred-address-types=InternalIP,Hostname"
# The kubelet stops the old API server within seconds of the change; the new one takes
# 10-40 s to be ready on a busy 2-core host.
GOES_DOWN_WITHIN = 60.0
COMES_BACK_WITHIN = 240.0


def api_is_down(lab: Lab) -> bool:
    api = lab.api_client()
    try:
        return wait_for_api(api, 0) is not None
    finally:
        api.close()


@pytest.fixture(scope="module")
def restarting_api(lab: Lab) -> Iterator[None]:
    """The API server's manifest with CHANGED_FLAG, the API down; restored afterwards."""
    node = lab.control_plane
    original = node.read_file(APISERVER_MANIFEST)
    assert DEFAULT_FLAG.encode() in original
    # kubeadm writes the manifests 0600; anything else would be a finding of its own.
    node.write_file(
        APISERVER_MANIFEST,
        original.replace(DEFAULT_FLAG.encode(), CHANGED_FLAG.encode()),
        mode=0o600,
    )
    try:
        deadline = time.monotonic() + GOES_DOWN_WITHIN
        while not api_is_down(lab):
            assert time.monotonic() < deadline, "the kubelet did not restart the API server"
            time.sleep(0.5)
        yield
    finally:
        node.write_file(APISERVER_MANIFEST, original, mode=0o600)
        api = lab.api_client()
        try:
            # The restored manifest restarts it once more; leave the lab as it was.
            assert wait_for_api(api, COMES_BACK_WITHIN) is None
        finally:
            api.close()


def check(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[dict[str, str]], str]:
    code = main(["check", *argv, "--json"])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, json.loads(out), err


def test_check_without_the_api_reports_the_node_findings(
    lab: Lab, restarting_api: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code, findings, err = check(capsys, lab.name)
    assert code == 1
    by_status: dict[str, set[str]] = {}
    for finding in findings:
        by_status.setdefault(finding["status"], set()).add(finding["rule_id"])
    assert by_status["error"] == {rule.id for rule in cluster_rules()}
    [flag] = [f for f in findings if f["rule_id"] == "manifests.flags"]
    assert (flag["path"], flag["expected"], flag["found"]) == (
        APISERVER_MANIFEST,
        DEFAULT_FLAG,
        CHANGED_FLAG,
    )
    # The CIS items kubeadm's defaults fail come from the node's files too.
    assert {"cis.profiling", "cis.apiserver-anonymous-auth"} <= by_status["known"]
    not_checked = next(f["found"] for f in findings if f["status"] == "error")
    assert not_checked.startswith("not checked: the API server at https://127.0.0.1:")
    assert "does not answer: " in not_checked
    assert f"{len(cluster_rules())} not checked" in err

    code = main(["check", lab.name])
    out, err = capsys.readouterr()
    assert code == 1 and "Traceback" not in out + err
    assert out.splitlines()[1].startswith("ERROR")
    assert f"`labkit check {lab.name} --wait 120` waits for the API server" in out


def test_check_wait_runs_the_cluster_rules_once_the_api_is_back(
    lab: Lab, restarting_api: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code, findings, err = check(capsys, lab.name, "--wait", str(COMES_BACK_WITHIN))
    assert code == 1, err
    assert [f for f in findings if f["status"] == "error"] == []
    failed = [(f["rule_id"], f["found"]) for f in findings if f["status"] == "fail"]
    assert failed == [("manifests.flags", CHANGED_FLAG)]
