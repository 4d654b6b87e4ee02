"""Findings for people (a fixed-width table, a summary line) and for tools (JSON)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict

from labkit.checks.findings import Finding, Rule

FINDING_COLUMNS = ("STATUS", "RULE", "NODE", "PATH", "EXPECTED", "FOUND")
RULE_COLUMNS = ("RULE", "RESULT", "ARTIFACT", "STATEMENT")
# Wide enough for a path or a flag; the JSON keeps every character.
MAX_CELL = 70


def findings_as_dicts(findings: Iterable[Finding]) -> list[dict[str, str]]:
    return [asdict(finding) for finding in findings]


def render_json(findings: Iterable[Finding]) -> str:
    return json.dumps(findings_as_dicts(findings), indent=2)


def render_table(findings: Sequence[Finding]) -> str:
    if not findings:
        return "no findings"
    rows = [
        (f.status.upper(), f.rule_id, f.node, f.path, f.expected, f.found)
        for f in sorted(findings, key=lambda f: (f.status, f.node, f.rule_id, f.path))
    ]
    return _table(FINDING_COLUMNS, rows)


def rule_results(rules: Iterable[Rule], findings: Iterable[Finding]) -> dict[str, str]:
    """rule id -> pass, fail or known: the rule list minus the findings."""
    statuses: dict[str, set[str]] = {}
    for finding in findings:
        statuses.setdefault(finding.rule_id, set()).add(finding.status)
    results = {}
    for rule in rules:
        found = statuses.get(rule.id, set())
        results[rule.id] = "fail" if "fail" in found else "known" if found else "pass"
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
    return f"{rules} rules, {nodes} nodes, {failures} failures, {known} known"


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
