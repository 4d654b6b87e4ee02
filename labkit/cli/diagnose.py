"""`labkit diagnose N [--json]`: the likely cause of what is wrong with a lab, and the fix."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "diagnose", help="say what is wrong with a lab and how to fix it (exit 1 if anything)"
    )
    parser.add_argument("name", help="the lab")
    parser.add_argument("--json", action="store_true", help="print the diagnoses as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from labkit.diagnose import as_data, diagnose_snapshot, format_text
    from labkit.diagnose.fetch import fetch_snapshot
    from labkit.host import docker_client
    from labkit.lab.lab import Lab

    snapshot = fetch_snapshot(Lab.find(docker_client(), args.name))
    diagnoses = diagnose_snapshot(snapshot)
    if args.json:
        print(json.dumps(as_data(diagnoses, snapshot), indent=2))
    else:
        print(format_text(diagnoses, snapshot))
    return 1 if diagnoses else 0
