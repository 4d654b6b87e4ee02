"""`labkit doctor [--json]`: can this host bring labs up, and if not, what to do."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import asdict

from labkit.host import DoctorCheck


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "doctor", help="check the host: engine, privileged containers, limits, node images"
    )
    parser.add_argument("--json", action="store_true", help="print the checks as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from labkit.labkit_host import LabkitHost

    checks = LabkitHost().doctor()
    print(format_json(checks) if args.json else format_table(checks))
    return 0 if all(check.ok for check in checks) else 1


def format_table(checks: Sequence[DoctorCheck]) -> str:
    width = max([len("CHECK"), *(len(check.name) for check in checks)])
    lines = [f"{'CHECK':<{width}}  STATUS  DETAIL"]
    lines += [
        f"{check.name:<{width}}  {'OK' if check.ok else 'FAIL':<6}  {check.detail}"
        for check in checks
    ]
    failed = [check for check in checks if not check.ok]
    if failed:
        lines += ["", "To fix:"]
        lines += [f"  {check.name}: {check.fix or 'see the detail above'}" for check in failed]
    return "\n".join(lines)


def format_json(checks: Sequence[DoctorCheck]) -> str:
    return json.dumps([asdict(check) for check in checks], indent=2)
