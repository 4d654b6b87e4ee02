"""`labkit lab ...`: kind-like lab lifecycle commands."""

from __future__ import annotations

import argparse
import sys

from labkit.cli.arguments import image_reference
from labkit.cli.lab_logs import register_export_logs
from labkit.cli.output import add_json_option, print_result
from labkit.errors import LabkitError
from labkit.spec import (
    CNI_CHOICES,
    CONTROL_PLANE_COUNTS,
    DEFAULT_NAME,
    INIT_MODES,
    MAX_WORKERS,
    REGISTRY_CHOICES,
)
from labkit.versions import DEFAULT_KUBERNETES_VERSION


def register(subparsers: argparse._SubParsersAction) -> None:
    lab = subparsers.add_parser("lab", help="bring labs up and down, and work with them")
    actions = lab.add_subparsers(dest="action", required=True, metavar="ACTION")
    _register_up(actions)
    _register_upgrade(actions)
    _register_inspection(actions)
    _register_lifecycle(actions)
    register_export_logs(actions)
    prune = actions.add_parser("prune", help="remove everything labkit labelled")
    prune.add_argument(
        "--pytest-run",
        metavar="UID",
        help="only the labs of the pytest run started with --testrunuid=UID (its other "
        "labs, other runs' and your own stay)",
    )
    prune.set_defaults(run=run_prune)


def _register_up(actions: argparse._SubParsersAction) -> None:
    up = actions.add_parser("up", help="bring a lab up")
    up.add_argument("-f", "--file", help="lab spec (YAML); defaults are used without one")
    up.add_argument("--name", help=f"lab name (default: the spec's, else {DEFAULT_NAME!r})")
    up.add_argument(
        "--control-planes",
        type=int,
        help=f"control planes: {', '.join(map(str, CONTROL_PLANE_COUNTS))} (default 1); "
        "several sit behind a load balancer",
    )
    up.add_argument(
        "--workers", type=int, help=f"number of worker nodes (0 to {MAX_WORKERS}; default 0)"
    )
    up.add_argument("--cni", choices=CNI_CHOICES, help=f"network plugin (default {CNI_CHOICES[0]})")
    up.add_argument(
        "--registry",
        choices=REGISTRY_CHOICES,
        help="the lab's own image registry, which every node mirrors registry.k8s.io, "
        "docker.io, ghcr.io and quay.io through (default local)",
    )
    up.add_argument(
        "--kubernetes-version",
        help=f"Kubernetes release, picks the node image (default {DEFAULT_KUBERNETES_VERSION})",
    )
    up.add_argument(
        "--init",
        choices=INIT_MODES,
        help=f"run kubeadm init whole or by phase (default {INIT_MODES[0]})",
    )
    up.add_argument("--keep", action="store_true", help="keep the nodes when bring-up fails")
    add_json_option(up)
    up.set_defaults(run=run_up)


def _register_upgrade(actions: argparse._SubParsersAction) -> None:
    upgrade = actions.add_parser(
        "upgrade", help="upgrade a lab to the next release with kubeadm upgrade"
    )
    upgrade.add_argument("name")
    upgrade.add_argument(
        "--to", required=True, metavar="vX.Y.Z", help="target release (this minor or the next)"
    )
    add_json_option(upgrade)
    upgrade.set_defaults(run=run_upgrade)


def _register_inspection(actions: argparse._SubParsersAction) -> None:
    """down, list, status, kubeconfig, exec, load-image, push: commands on a lab that is up."""
    down = actions.add_parser("down", help="remove a lab and everything it created")
    down.add_argument("name")
    down.set_defaults(run=run_down)

    actions.add_parser("list", help="list labs").set_defaults(run=run_list)

    status = actions.add_parser("status", help="nodes, their state and the bring-up times")
    status.add_argument("name")
    add_json_option(status)
    status.set_defaults(run=run_status)

    kubeconfig = actions.add_parser("kubeconfig", help="print the path of the lab's kubeconfig")
    kubeconfig.add_argument("name")
    kubeconfig.set_defaults(run=run_kubeconfig)

    exec_ = actions.add_parser("exec", help="run a command on a node: lab exec N NODE -- CMD")
    exec_.add_argument("name")
    exec_.add_argument("node", help="node name, with or without the lab prefix")
    exec_.add_argument("command", nargs=argparse.REMAINDER)
    exec_.set_defaults(run=run_exec)

    load = actions.add_parser("load-image", help="copy an image from the host into nodes")
    load.add_argument("name")
    load.add_argument("image", type=image_reference)
    load.add_argument("--nodes", nargs="+", help="only these nodes (default: all)")
    load.set_defaults(run=run_load_image)

    push = actions.add_parser(
        "push",
        help="push images from the host's Docker into the lab's registry (pods pull them by "
        "their names or as localhost:PORT/NAME:TAG)",
    )
    push.add_argument("name")
    push.add_argument("images", nargs="+", type=image_reference, metavar="image")
    add_json_option(push)
    push.set_defaults(run=run_push)


def _register_lifecycle(actions: argparse._SubParsersAction) -> None:
    """stop, start: a lab keeps its addresses and its kubeconfig across restarts."""
    stop = actions.add_parser("stop", help="stop a lab's nodes (workers first); start it later")
    stop.add_argument("name")
    add_json_option(stop)
    stop.set_defaults(run=run_stop)

    start = actions.add_parser(
        "start", help="start a stopped lab (control plane first) and wait until it is Ready"
    )
    start.add_argument("name")
    add_json_option(start)
    start.set_defaults(run=run_start)


def _client():
    from labkit.host import docker_client

    return docker_client()


def run_up(args: argparse.Namespace) -> int:
    from labkit.facade import Lab
    from labkit.spec import LabSpec

    spec = LabSpec.from_file(args.file) if args.file else LabSpec.from_dict({}, source="defaults")
    spec = spec.replace(
        name=args.name,
        control_planes=args.control_planes,
        workers=args.workers,
        cni=args.cni,
        registry=args.registry,
        kubernetes_version=args.kubernetes_version,
        init=args.init,
    )
    return print_result(Lab.up(spec, client=_client(), keep_on_failure=args.keep), args)


def run_upgrade(args: argparse.Namespace) -> int:
    from labkit.cli import require_running
    from labkit.facade import Lab
    from labkit.versions import KubernetesVersion

    target = KubernetesVersion.parse(args.to, field="--to")
    lab = Lab.find(_client(), args.name)
    require_running(lab, lab.nodes)
    return print_result(lab.upgrade(to=target), args)


def run_down(args: argparse.Namespace) -> int:
    from labkit.labkit_host import LabkitHost

    if not LabkitHost().remove_lab(args.name):
        print(f"no lab named {args.name!r}; nothing to do", file=sys.stderr)
        return 0
    print(f"lab {args.name!r} removed")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from labkit.labkit_host import LabkitHost

    for name in LabkitHost().labs():
        print(name)
    return 0


def run_status(args: argparse.Namespace) -> int:
    from labkit.facade import Lab

    return print_result(Lab.find(_client(), args.name).status(), args)


def run_kubeconfig(args: argparse.Namespace) -> int:
    from labkit.facade import Lab
    from labkit.lab.status import kubeconfig_port_mismatch

    lab = Lab.find(_client(), args.name)
    if not lab.kubeconfig.exists():
        raise LabkitError(f"lab {args.name!r} has no kubeconfig yet (at {lab.kubeconfig})")
    # The path is the answer even then; the warning says why it would not work.
    mismatch = kubeconfig_port_mismatch(lab)
    if mismatch:
        print(f"warning: {mismatch.problem}; {mismatch.fix}", file=sys.stderr)
    print(lab.kubeconfig)
    return 0


def run_exec(args: argparse.Namespace) -> int:
    from labkit.cli import require_running
    from labkit.facade import Lab

    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise LabkitError(
            "lab exec: give a command after `--`, e.g. `labkit lab exec N NODE -- crictl ps`"
        )
    lab = Lab.find(_client(), args.name)
    node = lab.node(args.node)
    # Else the docker CLI's "container ... is not running" would be all the user sees.
    require_running(lab, [node])
    # stdin always joined, as `docker exec -i` does: `lab exec N NODE -- sh < script` works.
    terminal = sys.stdin.isatty() and sys.stdout.isatty()
    return lab.exec(node, command, stdin=sys.stdin.buffer, tty=terminal)


def run_load_image(args: argparse.Namespace) -> int:
    from labkit.cli import require_running
    from labkit.facade import Lab

    lab = Lab.find(_client(), args.name)
    nodes = [lab.node(n) for n in args.nodes] if args.nodes else lab.nodes
    require_running(lab, nodes)
    lab.load_image(args.image, nodes)
    return 0


def run_push(args: argparse.Namespace) -> int:
    from labkit.facade import Lab

    lab = Lab.find(_client(), args.name)
    say = (lambda line: None) if args.json else print
    return print_result(lab.push(*args.images, say=say), args)


def run_prune(args: argparse.Namespace) -> int:
    from labkit.labkit_host import LabkitHost

    if args.pytest_run:
        names = LabkitHost().prune_pytest_run(args.pytest_run)
        print(f"removed {len(names)} labs of that pytest run" + "".join(f"\n  {n}" for n in names))
        return 0
    removed = LabkitHost().prune()
    print("removed " + ", ".join(f"{count} {kind}" for kind, count in removed.items()))
    return 0


def run_stop(args: argparse.Namespace) -> int:
    from labkit.facade import Lab

    return print_result(Lab.find(_client(), args.name).stop(), args)


def run_start(args: argparse.Namespace) -> int:
    from labkit.facade import Lab

    return print_result(Lab.find(_client(), args.name).start(), args)
