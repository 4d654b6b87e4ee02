"""`labkit doctor [--json]`: can this host bring labs up, and if not, what to do."""

from __future__ import annotations

import argparse

from labkit.cli.output import print_result


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "doctor", help="check the host: engine, privileged containers, limits, node images"
    )
    parser.add_argument("--json", action="store_true", help="print the checks as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from labkit.labkit_host import LabkitHost

    return print_result(LabkitHost().doctor(), args)
