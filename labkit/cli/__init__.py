"""The `labkit` command: each subcommand lives in its own module and registers itself.

Exit codes: 0 done, 1 an environment failure (or a check or diagnosis that found
something), 2 a user error, 130 interrupted. An environment failure (an API server, a node
container or a Docker engine that does not answer) is reported as what does not answer,
why in one line and what to do; its traceback only with `labkit --debug` or LABKIT_DEBUG=1.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import re
import sys
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from labkit.cli import version
from labkit.errors import LabkitError, StepFailed

if TYPE_CHECKING:
    from labkit.facade import Lab
    from labkit.lab.node import Node

# Modules under labkit.cli that define `register(subparsers)`; each adds one command.
COMMAND_MODULES = ("doctor", "image", "lab", "check", "diagnose", "conformance")
DEBUG_ENV = "LABKIT_DEBUG"
_DEBUG_HELP = f"show the traceback of a failure (also: {DEBUG_ENV}=1)"
# How Docker refuses an exec or an archive read in a container that is not running.
_NOT_RUNNING = re.compile(r"is not running|is paused|is restarting", re.IGNORECASE)


@dataclass
class EnvironmentFailure(Exception):
    """Something labkit needs does not answer: what, why (the error in one line), what to
    do. Commands raise it where they know better than `explain` does."""

    what: str
    why: str
    fix: str

    def __str__(self) -> str:
        return f"{self.what}: {self.why}\n  what to do: {self.fix}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="labkit",
        description="Kubernetes labs in Docker containers, brought up by kubeadm.",
        allow_abbrev=False,
    )
    parser.add_argument("--debug", action="store_true", help=_DEBUG_HELP)
    version.add_options(parser)
    # Required unless --version is given: main() says so as argparse would.
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"labkit.cli.{name}")
        except ModuleNotFoundError as error:
            if error.name != f"labkit.cli.{name}":
                raise
            continue
        module.register(subparsers)
    _accept_debug_after_the_command(parser)
    _refuse_abbreviations(parser)
    return parser


def _refuse_abbreviations(parser: argparse.ArgumentParser) -> None:
    # argparse takes a prefix of an option for the option (`--rule` for `--rules`): a typo
    # would silently run another command than the one meant.
    parser.allow_abbrev = False
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command in action.choices.values():
                _refuse_abbreviations(command)


def _accept_debug_after_the_command(parser: argparse.ArgumentParser) -> None:
    # Users add --debug where they retype the failed command: at its end. SUPPRESS keeps a
    # subcommand from resetting what the top-level option set.
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command in action.choices.values():
                command.add_argument(
                    "--debug", action="store_true", default=argparse.SUPPRESS, help=_DEBUG_HELP
                )
                _accept_debug_after_the_command(command)


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        # The reader went away (`labkit lab list | head -1`): what is left to print has no
        # one to read it. Python's own advice: point stdout at devnull so its final flush
        # does not fail again.
        with contextlib.suppress(OSError, ValueError, AttributeError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # as a shell reports a process ended by SIGPIPE


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        return version.run(args)
    if args.version_json:
        parser.error("--json goes with --version here; a command's own --json follows it")
    if args.command is None:
        parser.error("the following arguments are required: COMMAND")
    debug = bool(args.debug) or os.environ.get(DEBUG_ENV, "") not in ("", "0")
    if not debug:
        # urllib3 warns of every retry of an API server that does not answer; the failure,
        # if the retries do not help, says it once.
        logging.getLogger("urllib3").setLevel(logging.ERROR)
    try:
        return int(args.run(args) or 0)
    except LabkitError as error:
        # docker_client() refuses a missing engine as a LabkitError, with the engine's error
        # as its cause: an engine that does not answer is an environment failure all the same.
        cause = explain(error.__cause__, getattr(args, "name", None))
        if cause is not None:
            return _report(error, str(cause), 1, debug)
        return _report(error, str(error), 2, debug)
    except StepFailed as failure:
        return _report(failure, _step_failure(failure, getattr(args, "name", None)), 1, debug)
    except KeyboardInterrupt:
        print("labkit: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        failure = explain(error, getattr(args, "name", None))
        if failure is None:
            raise  # a bug in labkit: its traceback is what to report
        return _report(error, str(failure), 1, debug)


def _step_failure(failure: StepFailed, lab: str | None) -> str:
    """A failed step, with the environment failure that made it fail said as `explain` says
    it (run_steps wraps any exception as its type and text, which urllib3 makes long)."""
    cause = explain(failure.__cause__, lab)
    if cause is None:
        return str(failure)
    if failure.reason.startswith(f"{type(failure.__cause__).__name__}: "):
        failure = replace(failure, reason=f"{cause.what}: {cause.why}")
    return f"{failure}\n  what to do: {cause.fix}"


def _report(error: BaseException, message: str, code: int, debug: bool) -> int:
    if debug:
        traceback.print_exception(error)
    print(f"labkit: {message}", file=sys.stderr)
    return code


def explain(error: BaseException | None, lab: str | None) -> EnvironmentFailure | None:
    """The environment failure an exception stands for, or None when it is not one."""
    if error is None or isinstance(error, EnvironmentFailure):
        return error
    # Imported here: the clients take a second to import, and only a failure needs them.
    import docker.errors
    import requests

    from labkit.lab.api import API_FAILURES, failure_reason
    from labkit.lab.node import ExecFailed, ExecStreamBroken

    status = f"`labkit lab status {lab or 'NAME'}`"
    if isinstance(error, API_FAILURES):
        return _api_failure(error, lab, failure_reason(error))
    if isinstance(error, docker.errors.NotFound):
        return EnvironmentFailure(
            "Docker no longer has a container or volume of the lab",
            _one_line(error.explanation or error),
            f"{status} shows what is left; `labkit lab down {lab or 'NAME'}` and `labkit lab "
            "up` make the lab anew",
        )
    if isinstance(error, docker.errors.APIError) and _NOT_RUNNING.search(str(error)):
        return EnvironmentFailure(
            "a node container is not running",
            _one_line(error.explanation or error),
            f"{status} shows which and how it ended; `labkit lab start {lab or 'NAME'}` starts "
            "the lab's stopped nodes",
        )
    if isinstance(error, docker.errors.APIError):
        return EnvironmentFailure(
            f"the Docker engine at {_engine()} failed a request",
            _one_line(error.explanation or error),
            "`labkit doctor` checks the engine; its log says more (`journalctl -u docker`, "
            "or /var/log/labkit-dockerd.log where `make host` started it)",
        )
    if isinstance(error, (docker.errors.DockerException, requests.RequestException)):
        return EnvironmentFailure(
            f"the Docker engine at {_engine()} does not answer",
            failure_reason(error),
            "start it (`make host` installs and starts one), then `labkit doctor`",
        )
    if isinstance(error, ExecFailed):
        result = error.result
        output = (result.stderr or result.stdout).strip().splitlines()
        return EnvironmentFailure(
            f"a command failed on node {error.node}",
            f"`{' '.join(result.command)}` exited {result.exit_code}"
            + (f": {_one_line(output[-1])}" if output else ""),
            f"`labkit diagnose {lab or 'NAME'}` says what is wrong with the lab",
        )
    if isinstance(error, ExecStreamBroken):
        return EnvironmentFailure(
            "Docker lost the output of a command in a node",
            _one_line(error),
            "run the command again: a busy Docker engine does this now and then",
        )
    return None


def _api_failure(error: BaseException, lab: str | None, why: str) -> EnvironmentFailure:
    pool = getattr(error, "pool", None)  # urllib3's MaxRetryError says where it tried
    server = f"{pool.scheme}://{pool.host}:{pool.port}" if pool else _kubeconfig_server(lab)
    at = f" at {server}" if server else ""
    name = lab or "NAME"
    return EnvironmentFailure(
        f"the API server of lab {name!r}{at} does not answer",
        why,
        f"`labkit lab status {name}` says why (a stopped node, an API server that restarts, a "
        f"kubeconfig pointing at another port) and how to fix it; `labkit check {name} "
        "--wait 120` waits for the API server",
    )


def _kubeconfig_server(lab: str | None) -> str | None:
    from labkit.lab.state import LabState

    named = LabState(lab).kubeconfig_server() if lab else None
    return named[1] if named else None


def _engine() -> str:
    from labkit.host import engine_address

    return engine_address()


def _one_line(text: object) -> str:
    return " ".join(str(text).split())[:300]


def require_running(lab: Lab, nodes: Iterable[Node]) -> None:
    """Refuse to work on nodes whose container is not running, naming them and the fix."""
    from labkit.lab.status import stopped_node

    stopped = [node for node in nodes if node.container.status != "running"]
    problems = [problem for node in stopped if (problem := stopped_node(lab, node))]
    if not problems:
        return
    names = [node.container.name for node in stopped]
    count = "a node container is" if len(names) == 1 else f"{len(names)} node containers are"
    raise EnvironmentFailure(
        f"lab {lab.name!r}: {count} not running",
        "; ".join(problem.problem for problem in problems),
        f"`labkit lab start {lab.name}`, then run this again; `docker logs --tail 30 "
        f"{names[0]}` shows how it ended",
    )


if __name__ == "__main__":
    sys.exit(main())
