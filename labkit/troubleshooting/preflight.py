"""kubeadm's preflight checks on their own, and the node conditions that make them fail.

>>> with port_taken(node, 6443):
...     preflight_findings(preflight(node, "/etc/labkit/kubeadm.yaml"), "ERROR")
{'Port-6443': 'Port 6443 is in use'}
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

from labkit.constants import KUBEADM_PREFLIGHT_TIMEOUT
from labkit.lab.node import ExecResult, Node

# kubeadm prints each failed preflight check as `[ERROR <name>]: <message>`, an ignored or
# advisory one as `[WARNING <name>]: <message>`.
PREFLIGHT_LINE = re.compile(
    r"^\s*\[(?P<level>ERROR|WARNING) (?P<check>[^\]]+)\]: (?P<message>.*)$", re.MULTILINE
)


def preflight(node: Node, config: str, *, ignore: tuple[str, ...] = ()) -> ExecResult:
    """`kubeadm init phase preflight` with a config; the result, failed or not."""
    command = ["kubeadm", "init", "phase", "preflight", "--config", config]
    if ignore:
        command.append(f"--ignore-preflight-errors={','.join(ignore)}")
    return node.exec(command, timeout=KUBEADM_PREFLIGHT_TIMEOUT, check=False)


def preflight_findings(result: ExecResult, level: str) -> dict[str, str]:
    """Check name -> message of the `[ERROR ...]` or `[WARNING ...]` lines kubeadm printed
    (a check may print several lines: their messages are joined)."""
    found: dict[str, list[str]] = {}
    for match in PREFLIGHT_LINE.finditer(result.stdout + "\n" + result.stderr):
        if match["level"] == level:
            found.setdefault(match["check"], []).append(match["message"].strip())
    return {check: "; ".join(messages) for check, messages in found.items()}


@contextlib.contextmanager
def port_taken(node: Node, port: int) -> Iterator[str]:
    """A listener on `port` in the node for the duration, as a transient systemd unit (so
    that nothing outlives it); yields the unit's name."""
    unit = f"labkit-hold-port-{port}"
    node.exec(
        [
            "systemd-run",
            f"--unit={unit}",
            "--collect",
            "socat",
            f"TCP-LISTEN:{port},fork,reuseaddr",
            "-",
        ]
    )
    try:
        # socat binds a moment after systemd has started it.
        node.exec(
            [
                "timeout",
                "10",
                "sh",
                "-c",
                f"until ss -Hltn 'sport = :{port}' | grep -q .; do sleep 0.1; done",
            ]
        )
        yield unit
    finally:
        node.exec(["systemctl", "stop", unit], check=False)


@contextlib.contextmanager
def sysctl_set(node: Node, key: str, value: str) -> Iterator[str]:
    """`key` set to `value` in the node (its own network namespace for net.*), restored on
    exit; yields the value it had."""
    before = node.output(["sysctl", "-n", key]).strip()
    node.exec(["sysctl", "-w", f"{key}={value}"])
    try:
        yield before
    finally:
        node.exec(["sysctl", "-w", f"{key}={before}"])
