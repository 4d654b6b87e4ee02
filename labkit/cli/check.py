"""`labkit check N [--json] [--rules] [--strict]`: kubeadm's invariants on a running lab.

Exits 1 when an invariant fails. CIS items kubeadm's defaults are known to fail are shown
as KNOWN and fail only with --strict.
"""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "check",
        help="check kubeadm's invariants on every node and the cluster (exit 1 if any fails)",
    )
    parser.add_argument("name", help="the lab")
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the findings as JSON (the summary goes to stderr)",
    )
    parser.add_argument(
        "--rules",
        action="store_true",
        help="list every rule with its result instead of the findings",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="count the CIS items kubeadm's defaults fail as failures",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from labkit.checks import all_rules
    from labkit.checks.lab import check_lab
    from labkit.checks.report import render_json, render_rules, render_table, summary_line
    from labkit.host import docker_client
    from labkit.lab.lab import Lab

    result = check_lab(Lab.find(docker_client(), args.name), strict=args.strict)
    if args.json:
        print(render_json(result.findings))
    elif args.rules:
        print(render_rules(all_rules(), result.findings))
    else:
        print(render_table(result.findings))
    summary = summary_line(result.findings, rules=result.rules, nodes=len(result.nodes))
    timing = f" in {result.total_seconds:.1f}s"
    print(summary + timing, file=sys.stderr if args.json else sys.stdout)
    return 1 if result.failures else 0
