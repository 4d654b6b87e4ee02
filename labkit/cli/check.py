"""`labkit check N [--json] [--rules] [--strict] [--wait SECONDS]`: kubeadm's invariants on a
running lab.

Exits 1 when an invariant fails or could not be checked. CIS items kubeadm's defaults are
known to fail are shown as KNOWN and fail only with --strict. When the API server does not
answer, the node rules still run and the cluster rules are shown as ERROR, not checked.
"""

from __future__ import annotations

import argparse
import sys

from labkit.cli.arguments import seconds


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
    parser.add_argument(
        "--wait",
        type=seconds,
        default=0.0,
        metavar="SECONDS",
        help="wait up to SECONDS for the API server to be ready before the cluster rules "
        "(default: do not wait; without an answer they are reported as not checked)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from labkit.cli import require_running
    from labkit.errors import LabkitError
    from labkit.facade import Lab
    from labkit.host import docker_client

    if args.wait < 0:
        raise LabkitError(f"--wait {args.wait:g}: give the seconds to wait, 0 or more")
    lab = Lab.find(docker_client(), args.name)
    # A node's files are read by a `tar` run in it, and the expectations come from kubeadm
    # run on the control plane: both need the containers running.
    require_running(lab, lab.nodes)
    result = lab.check(strict=args.strict, wait=args.wait)
    if args.json:
        print(result.json_text())
        print(result.summary(), file=sys.stderr)
    else:
        print(result.rules_text() if args.rules else result)
    return 0 if result.ok else 1
