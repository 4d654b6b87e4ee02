"""`labkit conformance N [--suite kubeadm|conformance] [--focus RE] [--skip RE]
[--parallel N] [--report DIR]`: an upstream suite of the lab's own release against the lab.

Exit 0 when nothing failed, 1 when a spec (or the suite around it) failed, 2 for a focus
or skip that selects no spec, 130 when interrupted (ginkgo stopped, the run's namespaces
deleted).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from labkit.cli.arguments import positive_int, re2_pattern
from labkit.cli.output import add_json_option, print_result
from labkit.suites.suites import SUITES


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "conformance",
        help="run kubeadm's e2e suite or the Conformance suite against a lab (offline)",
    )
    parser.add_argument("name", help="the lab")
    parser.add_argument(
        "--suite",
        choices=sorted(SUITES),
        default="kubeadm",
        help="kubeadm: e2e_kubeadm (default); conformance: the [Conformance] specs of e2e.test",
    )
    parser.add_argument(
        "--focus",
        action="append",
        default=[],
        metavar="RE",
        type=re2_pattern,
        help="run only specs matching RE (ginkgo's --focus; repeatable)",
    )
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        metavar="RE",
        type=re2_pattern,
        help="skip specs matching RE (ginkgo's --skip; repeatable)",
    )
    parser.add_argument(
        "--parallel", type=positive_int, default=1, metavar="N", help="ginkgo processes (default 1)"
    )
    parser.add_argument(
        "--report",
        type=Path,
        default=None,
        metavar="DIR",
        help="where ginkgo's JSON and JUnit reports and the failures go "
        "(default: a new folder under ~/.local/state/labkit/reports)",
    )
    add_json_option(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from labkit.cli import require_running
    from labkit.facade import Lab
    from labkit.host import docker_client
    from labkit.suites.ginkgo import SuiteInterrupted

    lab = Lab.find(docker_client(), args.name)
    require_running(lab, lab.nodes)
    try:
        result = lab.conformance(
            args.suite,
            focus=args.focus,
            skip=args.skip,
            parallel=args.parallel,
            report_dir=args.report,
        )
    except SuiteInterrupted as interrupted:
        if interrupted.partial is not None:
            print("interrupted; what ran before:")
            print(interrupted.partial)
        raise
    return print_result(result, args)
