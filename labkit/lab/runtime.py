"""What a node's container runtime says it runs (`crictl ps -a`), read in one call: the
control-plane components when the API server cannot say it."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from labkit.constants import CRICTL_TIMEOUT
from labkit.lab.api import failure_reason
from labkit.lab.node import Node

_LOG_LINES = 40
_KLOG_PREFIX = re.compile(r"^[IWEF]\d{4} [\d:.]+\s+\d+ [^\]]+\] ")
_ERROR_LINE = re.compile(r"^[EF]\d{4} |\b(error|failed|fatal|panic)\b", re.IGNORECASE)


@dataclass(frozen=True)
class RuntimeContainer:
    """One row of `crictl ps -a` on a node."""

    name: str
    state: str  # as crictl's JSON spells it: CONTAINER_RUNNING, CONTAINER_EXITED, ...
    attempt: int
    id: str

    @property
    def running(self) -> bool:
        return self.state == "CONTAINER_RUNNING"

    def __str__(self) -> str:
        state = self.state.removeprefix("CONTAINER_").lower()
        return f"{self.name}: {state} (attempt {self.attempt}, id {self.id[:13]})"


def newest(containers: tuple[RuntimeContainer, ...], name: str) -> RuntimeContainer | None:
    """The container the kubelet runs now for a static pod: its latest attempt (a running
    one first: the kubelet never runs two)."""
    mine = [c for c in containers if c.name == name]
    return max(mine, key=lambda c: (c.running, c.attempt)) if mine else None


def read_runtime(node: Node) -> tuple[tuple[RuntimeContainer, ...] | None, str | None]:
    """(the node's containers, None), or (None, why they could not be read)."""
    try:
        result = node.exec(
            ["crictl", "ps", "-a", "-o", "json"], timeout=CRICTL_TIMEOUT, check=False
        )
    except Exception as error:  # evidence is best effort
        return None, str(error)
    if not result.ok:
        return None, f"exit {result.exit_code}: {(result.stderr or result.stdout).strip()[-300:]}"
    try:
        return parse_crictl_ps(result.stdout), None
    except (ValueError, KeyError, TypeError) as error:
        return None, f"unreadable `crictl ps -o json` output: {error}"


def parse_crictl_ps(text: str) -> tuple[RuntimeContainer, ...]:
    return tuple(
        RuntimeContainer(
            name=c["metadata"]["name"],
            state=c["state"],
            attempt=int(c["metadata"].get("attempt", 0)),
            id=c["id"],
        )
        for c in json.loads(text).get("containers") or []
    )


def last_log_reason(node: Node, container_id: str) -> str:
    """The last error line of a CRI container's log tail, else its last line."""
    try:
        result = node.exec(
            ["crictl", "logs", "--tail", str(_LOG_LINES), container_id],
            timeout=CRICTL_TIMEOUT,
            check=False,
        )
    except Exception as error:  # evidence is best effort: say why there is none
        return f"(no log: {failure_reason(error)})"
    # klog writes to stderr, a flag error goes to stdout with the usage after it.
    lines = [line.strip() for line in (result.stdout + result.stderr).splitlines()]
    lines = [line for line in lines if line]
    errors = [line for line in lines if _ERROR_LINE.search(line)]
    chosen = (errors or lines or ["(an empty log)"])[-1]
    return _KLOG_PREFIX.sub("", chosen)[:300]
