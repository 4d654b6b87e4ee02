"""Findings for people (a fixed-width table, a summary line) and for tools (JSON).

A finding's status is `fail`, `known` (a CIS item kubeadm's defaults fail) or `error` (the
rule could not run: the API server did not answer); JSON carries each rule's own finding,
the table one row per reason a group of rules could not run.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict

from labkit.checks.findings import Finding, Rule

FINDING_COLUMNS = ("STATUS", "RULE", "NODE", "PATH", "EXPECTED", "FOUND")
RULE_COLUMNS = ("RULE", "RESULT", "ARTIFACT", "STATEMENT")
# Wide enough for a path or a flag; the JSON keeps every character.
MAX_CELL = 70
# The status of a rule that could not run: neither passed nor failed.
NOT_CHECKED = "error"


def findings_as_dicts(findings: Iterable[Finding]) -> list[dict[str, str]]:
    return [asdict(finding) for finding in findings]


def render_json(findings: Iterable[Finding]) -> str:
    return json.dumps(findings_as_dicts(findings), indent=2)


def render_table(findings: Sequence[Finding]) -> str:
    if not findings:
        return "no findings"
    checked = [f for f in findings if f.status != NOT_CHECKED]
    rows = [
        (f.status.upper(), f.rule_id, f.node, f.path, f.expected, f.found)
        for f in sorted(checked, key=lambda f: (f.status, f.node, f.rule_id, f.path))
    ]
    return _table(FINDING_COLUMNS, _not_checked_rows(findings) + rows)


def _not_checked_rows(findings: Iterable[Finding]) -> list[tuple[str, ...]]:
    """One row per reason for the rules that could not run: a row per rule would say the
    same reason a score of times."""
    by_reason: dict[tuple[str, str, str, str], list[str]] = {}
    for f in findings:
        if f.status == NOT_CHECKED:
            by_reason.setdefault((f.node, f.path, f.expected, f.found), []).append(f.rule_id)
    return [
        (
            NOT_CHECKED.upper(),
            ids[0] if len(ids) == 1 else f"{len(ids)} rules (--rules names them)",
            *reason,
        )
        for reason, ids in by_reason.items()
    ]


def rule_results(rules: Iterable[Rule], findings: Iterable[Finding]) -> dict[str, str]:
    """rule id -> pass, fail, error or known: the rule list minus the findings."""
    statuses: dict[str, set[str]] = {}
    for finding in findings:
        statuses.setdefault(finding.rule_id, set()).add(finding.status)
    results = {}
    for rule in rules:
        found = statuses.get(rule.id, set())
        worst = next((status for status in ("fail", NOT_CHECKED, "known") if status in found), None)
        results[rule.id] = worst or "pass"
    return results


def render_rules(rules: Sequence[Rule], findings: Iterable[Finding] = ()) -> str:
    """Every rule with its result (`labkit check --rules` shows this without findings)."""
    results = rule_results(rules, findings)
    rows = [(r.id, results[r.id].upper(), r.artifact, r.statement) for r in rules]
    return _table(RULE_COLUMNS, rows)


def summary_line(findings: Iterable[Finding], *, rules: int, nodes: int) -> str:
    findings = list(findings)
    failures = sum(1 for f in findings if f.status == "fail")
    known = sum(1 for f in findings if f.status == "known")
    line = f"{rules} rules, {nodes} nodes, {failures} failures, {known} known"
    not_checked = sum(1 for f in findings if f.status == NOT_CHECKED)
    return f"{line}, {not_checked} not checked" if not_checked else line


def _cell(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 3] + "..."


def _table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    # The last column is not padded, so it is never cut.
    cells = [[*(_cell(c) for c in row[:-1]), " ".join(str(row[-1]).split())] for row in rows]
    widths = [max(len(column), *(len(row[i]) for row in cells)) for i, column in enumerate(columns)]
    lines = [columns, *cells]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )
