"""The commands `lab upgrade` runs on nodes while API servers restart under it: each runs
again, for a bounded time, when its failure says the API server did not answer."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from labkit.constants import DRAIN_TIMEOUT, KUBEADM_UPGRADE_TIMEOUT, KUBECTL_ON_NODE
from labkit.lab.evidence import kubeadm_failed, kubectl_failed
from labkit.lab.node import ExecFailed, ExecResult, Node
from labkit.lab.upgrade_context import Upgrade

# kubectl's answers while an API server restarts (a new kubelet restarts the static pods):
# refused ("The connection to the server ... was refused"), reset, TLS timeouts, and 403
# until its RBAC authorizer has synced.
_API_SERVER_RESTARTING = re.compile(
    r"refused|connection reset|TLS handshake timeout|[Ff]orbidden|Unable to connect|"
    r"the server is currently unable|etcdserver|i/o timeout|EOF"
)
# Two minutes: an API server takes up to a minute to come back on these hosts.
API_RESTART_ATTEMPTS = 24
API_RESTART_RETRY_DELAY = 5.0


def run_kubeadm(
    up: Upgrade, node: Node, args: list[str], *, again_while_api_restarts: bool = False
) -> str:
    """kubeadm on the node; `again_while_api_restarts` for what may run again (`upgrade
    node`) when its error says the API server did not answer (it restarts when a control
    plane's new kubelet recreates its static pods)."""
    operation = f"kubeadm {' '.join(args[:2])}"
    try:
        result = _again_while_api_restarts(
            up,
            node,
            ["kubeadm", *args, "--v=1"],
            label=operation,
            attempts=API_RESTART_ATTEMPTS if again_while_api_restarts else 1,
            timeout=KUBEADM_UPGRADE_TIMEOUT,
            # kubeadm logs much at --v=1; only its `error` lines say why it stopped.
            why=lambda output: "\n".join(
                line for line in output.splitlines() if line.startswith("error")
            ),
            on_line=up.progress.detail,
        )
    except ExecFailed as failure:
        raise kubeadm_failed(node, operation, failure) from failure
    return result.stdout + result.stderr


def kubectl(up: Upgrade, node: Node, *args: str) -> None:
    """kubectl on the node, again (drain and uncordon are idempotent) while the API server
    is restarting or its authorizer not yet synced."""
    try:
        _again_while_api_restarts(
            up,
            node,
            [*KUBECTL_ON_NODE, *args],
            label=f"kubectl {args[0]}",
            attempts=API_RESTART_ATTEMPTS,
            timeout=DRAIN_TIMEOUT + 30,
        )
    except ExecFailed as failure:
        raise kubectl_failed(node, args, failure, up.api) from failure


def _again_while_api_restarts(
    up: Upgrade,
    node: Node,
    command: list[str],
    *,
    label: str,
    attempts: int,
    timeout: float,
    why: Callable[[str], str] = lambda output: output,
    on_line: Callable[[str], None] | None = None,
) -> ExecResult:
    """The command, run up to `attempts` times while `why` of its failed output says the
    API server restarts; any other failure, or the last, raises its ExecFailed."""
    for attempt in range(1, attempts + 1):
        try:
            return node.exec(command, timeout=timeout, on_line=on_line)
        except ExecFailed as failure:
            said = why(failure.result.stdout + failure.result.stderr)
            if attempt == attempts or not _API_SERVER_RESTARTING.search(said):
                raise
            up.progress.detail(f"{label}: the API server restarts; again: {said}")
            time.sleep(API_RESTART_RETRY_DELAY)
    raise AssertionError("unreachable: the last attempt returns or raises")
