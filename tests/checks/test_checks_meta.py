"""Every rule can fail: each registered rule id is broken by at least one case (or, for the
CIS items kubeadm's defaults fail, shown as known on a default node); and the registry and
the reports hold together."""

from __future__ import annotations

import json

from test_checks_cis import CASES as CIS_CASES
from test_checks_cis import KNOWN
from test_checks_cluster import CASES as CLUSTER_CASES
from test_checks_control_planes import CASES as CONTROL_PLANE_CASES
from test_checks_kubeconfigs import CASES as KUBECONFIG_CASES
from test_checks_kubelet import CASES as KUBELET_CASES
from test_checks_manifests import CASES as MANIFEST_CASES
from test_checks_pki import CASES as PKI_CASES
from test_checks_registry import CASES as REGISTRY_CASES

from labkit.checks import Finding, all_rules, cluster_rules, node_rules, nodes_rules
from labkit.checks.report import render_json, render_rules, render_table, summary_line

ALL_CASES = (
    PKI_CASES
    + KUBECONFIG_CASES
    + MANIFEST_CASES
    + KUBELET_CASES
    + CIS_CASES
    + CLUSTER_CASES
    + CONTROL_PLANE_CASES
    + REGISTRY_CASES
)


def test_every_rule_is_broken_by_some_case() -> None:
    exercised = {case.rule_id for case in ALL_CASES} | set(KNOWN)
    never_failing = [rule.id for rule in all_rules() if rule.id not in exercised]
    assert never_failing == []


def test_every_case_names_a_registered_rule() -> None:
    registered = {rule.id for rule in all_rules()}
    assert {case.rule_id for case in ALL_CASES} <= registered
    assert set(KNOWN) == {rule.id for rule in all_rules() if rule.known}


def test_rules_are_unique_and_documented() -> None:
    rules = all_rules()
    assert len({rule.id for rule in rules}) == len(rules)
    assert rules == node_rules() + nodes_rules() + cluster_rules()
    for rule in rules:
        assert rule.statement and rule.source_url.startswith("https://"), rule.id
        scope = "node" if rule in node_rules() else "nodes" if rule in nodes_rules() else "cluster"
        assert rule.scope == scope


FINDINGS = [
    Finding("pki.sans", "lab-control-plane", "/etc/kubernetes/pki/apiserver.crt",
            "SANs DNS:kubernetes", "missing DNS:kubernetes; unexpected none"),
    Finding("cis.profiling", "lab-control-plane", "/etc/kubernetes/manifests/kube-scheduler.yaml",
            "--profiling=false", "no --profiling", "known"),
]  # fmt: skip


def test_table_lists_findings_in_fixed_columns() -> None:
    lines = render_table(FINDINGS).splitlines()
    assert lines[0].split() == ["STATUS", "RULE", "NODE", "PATH", "EXPECTED", "FOUND"]
    assert lines[1].startswith("FAIL    pki.sans")
    assert lines[2].startswith("KNOWN   cis.profiling")
    column = lines[0].index("PATH")
    assert all(line[column:].startswith("/etc/kubernetes/") for line in lines[1:])
    assert render_table([]) == "no findings"


def test_json_is_a_list_of_finding_dicts() -> None:
    document = json.loads(render_json(FINDINGS))
    assert document[0] == {
        "rule_id": "pki.sans", "node": "lab-control-plane",
        "path": "/etc/kubernetes/pki/apiserver.crt", "expected": "SANs DNS:kubernetes",
        "found": "missing DNS:kubernetes; unexpected none", "status": "fail",
    }  # fmt: skip


def test_summary_and_rule_list() -> None:
    rules = all_rules()
    assert summary_line(FINDINGS, rules=len(rules), nodes=2) == (
        f"{len(rules)} rules, 2 nodes, 1 failures, 1 known"
    )
    listing = render_rules(rules, FINDINGS).splitlines()
    results = {line.split()[0]: line.split()[1] for line in listing[1:]}
    assert results["pki.sans"] == "FAIL" and results["cis.profiling"] == "KNOWN"
    assert results["pki.issuer"] == "PASS"
    assert len(listing) == len(rules) + 1
