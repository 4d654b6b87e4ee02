"""How a command ends: it prints its result, as text or with `--json` as JSON, and exits
by the result's `.ok`. Both come from the result itself (labkit/results.py), so what the
terminal shows and what a Python user reads cannot drift apart."""

from __future__ import annotations

import argparse

from labkit.results import Result


def add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def print_result(result: Result, args: argparse.Namespace) -> int:
    """Print `result` as the command's output; the exit code its `.ok` says."""
    print(result.json_text() if getattr(args, "json", False) else result)
    return 0 if result.ok else 1
