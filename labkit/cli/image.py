"""`labkit image build|suites|list|gomod`: the offline node image, and what the upstream suites
run with."""

from __future__ import annotations

import argparse

from labkit.cli.output import add_json_option, print_result
from labkit.versions import DEFAULT_KUBERNETES_VERSION, KubernetesVersion


def register(subparsers: argparse._SubParsersAction) -> None:
    image = subparsers.add_parser("image", help="build the node image (offline)")
    actions = image.add_subparsers(dest="action", required=True, metavar="ACTION")

    build = actions.add_parser("build", help="build labkit/node:<version> from source")
    build.add_argument(
        "--kubernetes-version",
        default=DEFAULT_KUBERNETES_VERSION,
        help=f"Kubernetes release to build (default {DEFAULT_KUBERNETES_VERSION})",
    )
    build.add_argument(
        "--image", help="reference of the node image (default labkit/node:<version>)"
    )
    build.set_defaults(run=run_build)

    suites = actions.add_parser(
        "suites",
        help="build the suites' binaries and test images of a release (what `labkit "
        "conformance` builds before its first run)",
    )
    suites.add_argument(
        "--kubernetes-version",
        default=DEFAULT_KUBERNETES_VERSION,
        help=f"the labs' release (default {DEFAULT_KUBERNETES_VERSION})",
    )
    suites.add_argument(
        "--suite",
        action="append",
        help="a suite to build for: kubeadm or conformance (repeat for several; default both)",
    )
    suites.set_defaults(run=run_suites)

    listing = actions.add_parser(
        "list", help="the node images built here and every component's version in each"
    )
    add_json_option(listing)
    listing.set_defaults(run=run_list)

    gomod = actions.add_parser(
        "gomod", help="rewrite the committed Go modules for the default versions"
    )
    gomod.set_defaults(run=run_gomod)


def run_build(args: argparse.Namespace) -> int:
    from labkit.labkit_host import LabkitHost

    version = KubernetesVersion.parse(args.kubernetes_version, field="--kubernetes-version")
    built = LabkitHost().build_image(version, reference=args.image)
    print(f"{built.reference} ready in {built.total_seconds:.1f}s")
    return 0


def run_suites(args: argparse.Namespace) -> int:
    from labkit.labkit_host import LabkitHost
    from labkit.suites.suites import SUITES, SuiteRequest

    version = KubernetesVersion.parse(args.kubernetes_version, field="--kubernetes-version")
    suites = [SuiteRequest(suite=name).suite for name in args.suite or SUITES]
    for path in LabkitHost().build_suites(version, suites):
        print(f"ready: {path}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from labkit.labkit_host import LabkitHost

    return print_result(LabkitHost().node_images(), args)


def run_gomod(args: argparse.Namespace) -> int:
    from labkit.labkit_host import LabkitHost

    for path in LabkitHost().write_go_modules():
        print(f"wrote {path}")
    return 0
