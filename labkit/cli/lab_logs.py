"""`labkit lab export-logs N [DIR]`: registered into `labkit lab`'s actions by cli/lab.py."""

from __future__ import annotations

import argparse
import sys

from labkit.cli.arguments import output_directory
from labkit.cli.output import add_json_option, print_result


def register_export_logs(actions: argparse._SubParsersAction) -> None:
    export = actions.add_parser(
        "export-logs", help="write every node's logs, journals and the lab's state to a directory"
    )
    export.add_argument("name")
    export.add_argument(
        "directory",
        nargs="?",
        type=output_directory,
        help="where to write (default: ./labkit-logs/<lab>-<timestamp>)",
    )
    add_json_option(export)
    export.set_defaults(run=run_export_logs)


def run_export_logs(args: argparse.Namespace) -> int:
    from labkit.facade import Lab
    from labkit.host import docker_client

    logs = Lab.find(docker_client(), args.name).export_logs(args.directory)
    if logs.warning:
        print(logs.warning, file=sys.stderr)
    return print_result(logs, args)
