"""The `labkit` command: each subcommand lives in its own module and registers itself."""

from __future__ import annotations

import argparse
import importlib
import sys

from labkit.errors import LabkitError, StepFailed

# Modules under labkit.cli that define `register(subparsers)`; each adds one command.
COMMAND_MODULES = ("doctor", "image", "lab", "check", "diagnose")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="labkit", description="Kubernetes labs in Docker containers, brought up by kubeadm."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"labkit.cli.{name}")
        except ModuleNotFoundError as error:
            if error.name != f"labkit.cli.{name}":
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except LabkitError as error:
        print(f"labkit: {error}", file=sys.stderr)
        return 2
    except StepFailed as failure:
        print(f"labkit: {failure}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("labkit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
