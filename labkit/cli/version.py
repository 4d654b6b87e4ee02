"""`labkit --version [--json]`: labkit's version, the Kubernetes releases it brings up and
the node images built on this host (what a bug report starts with)."""

from __future__ import annotations

import argparse
import json


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--version",
        action="store_true",
        help="labkit's version, the Kubernetes releases it brings up, the node images built here",
    )
    # Not `json`: a command's own --json (lab status, check, diagnose) sets that.
    parser.add_argument(
        "--json", dest="version_json", action="store_true", help="with --version: as JSON"
    )


def run(args: argparse.Namespace) -> int:
    from labkit.version_report import version_report

    report = version_report()
    if args.version_json:
        print(json.dumps(report.as_json(), indent=2))
    else:
        print("\n".join(report.lines()))
    return 0
