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
from labkit.suites.report import SuiteResult
from labkit.suites.suites import SUITES

SLOWEST = 5
MESSAGE_LINES = 6


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
            print(render_summary(interrupted.partial))
        raise
    print(render_summary(result))
    return 0 if result.ok else 1


def render_summary(result: SuiteResult) -> str:
    lines = [f"{result.suite} suite: {result.summary()}"]
    slowest = result.slowest(SLOWEST)
    if slowest:
        lines.append("slowest:")
        lines += [f"  {spec.seconds:7.1f}s  {spec.name}" for spec in slowest]
    for spec in result.failed:
        lines.append(f"FAILED ({spec.state}) {spec.name}")
        if spec.location:
            lines.append(f"  at {spec.location}")
        message = spec.message.splitlines()[:MESSAGE_LINES] or ["(no message)"]
        lines += [f"  {line}" for line in message]
    for reason in result.special_failures:
        lines.append(f"FAILED suite: {reason}")
    if not result.succeeded and not result.failed and not result.special_failures:
        lines.append(f"FAILED suite: ginkgo reported failure (exit {result.exit_code})")
    if result.report_dir is not None:
        lines.append(f"reports: {result.report_dir}")
    return "\n".join(lines)
