"""`labkit diagnose N [--json]`: the likely cause of what is wrong with a lab, and the fix."""

from __future__ import annotations

import argparse

from labkit.cli.output import print_result


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "diagnose", help="say what is wrong with a lab and how to fix it (exit 1 if anything)"
    )
    parser.add_argument("name", help="the lab")
    parser.add_argument("--json", action="store_true", help="print the diagnoses as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from labkit.facade import Lab
    from labkit.host import docker_client

    result = Lab.find(docker_client(), args.name).diagnose()
    return print_result(result, args)
