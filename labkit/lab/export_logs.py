"""`labkit lab export-logs`: what it takes to debug a lab later, written to one directory.

Per node (`<dir>/<node>/`): the container's log and inspect, the whole journal and the
kubelet's and containerd's, /var/log (pod and container logs), the CRI's containers and
images, and the versions. Per lab: nodes described, events and pods, read on the control
plane with its admin.conf (so it works when the host's kubeconfig does not). `summary.txt`
says what was collected and what failed.

A broken lab is when this runs, so nothing may hang or stop the rest: every command has a
timeout, every Docker call is bounded, each node runs on its own thread against a deadline,
a failure goes into that node's `errors.txt`, and a stopped container gets no exec at all.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from labkit.constants import KUBECTL_ON_NODE, ROLE_LOAD_BALANCER, ROLE_REGISTRY
from labkit.errors import LabkitError
from labkit.lab.exported_logs import ERRORS_FILE, ExportedLogs
from labkit.lab.model import LabModel
from labkit.lab.node import Node

_Result = TypeVar("_Result")
DEFAULT_PARENT = "labkit-logs"

# The lab's containers that are not nodes of the cluster.
_NOT_NODES = (ROLE_LOAD_BALANCER, ROLE_REGISTRY)


@dataclass(frozen=True)
class ExportTimeouts:
    command: float = 60.0  # one command in a node (crictl, kubectl, one unit's journal)
    journal: float = 180.0  # the whole journal can be large
    docker: float = 180.0  # one Docker call: inspect, the container log, /var/log's archive
    node: float = 600.0  # everything of one node; past it the node is reported unfinished


@dataclass(frozen=True)
class NodeFile:
    """A file of a node made from commands run in it, each shown under a `$ ...` header
    when there are several."""

    name: str
    commands: tuple[tuple[str, ...], ...]
    long: bool = False  # uses the journal timeout


def _journal(*unit: str) -> tuple[str, ...]:
    return ("journalctl", "--no-pager", *(("-u", unit[0]) if unit else ()))


NODE_FILES = (
    NodeFile("journal.txt", (_journal(),), long=True),
    NodeFile("kubelet.log", (_journal("kubelet"),), long=True),
    NodeFile("containerd.log", (_journal("containerd"),), long=True),
    NodeFile("crictl-ps.txt", (("crictl", "ps", "-a"),)),
    NodeFile("crictl-images.txt", (("crictl", "images"),)),
    NodeFile(
        "kubernetes-version.txt", (("kubeadm", "version", "-o", "short"), ("cat", "/kind/version"))
    ),
)
DOCKER_FILES = ("docker-logs.txt", "inspect.json")
VAR_LOG = "var-log.tar"


def _kubectl(*args: str) -> tuple[tuple[str, ...], ...]:
    return ((*KUBECTL_ON_NODE, "--request-timeout=30s", *args),)


LAB_FILES = (
    NodeFile("nodes-describe.txt", _kubectl("describe", "nodes")),
    NodeFile("events.txt", _kubectl("get", "events", "-A", "-o", "wide")),
    NodeFile("pods.txt", _kubectl("get", "pods", "-A", "-o", "wide")),
)


class CollectFailed(Exception):
    """A file was written, or not, but its command did not succeed."""


@dataclass
class Collection:
    """What one node's (or the lab's) collection has done so far; read at the deadline
    even when the thread filling it never finishes."""

    title: str
    state: str = "unknown"
    collected: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    finished: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def attempt(self, name: str, action: Callable[[], None]) -> None:
        try:
            action()
        except CollectFailed as error:
            self.fail(name, str(error))
        except Exception as error:  # one file's failure must not stop the others
            self.fail(name, f"{type(error).__name__}: {error}".strip())
        else:
            with self._lock:
                self.collected.append(name)

    def fail(self, name: str, why: str) -> None:
        with self._lock:
            self.failed[name] = why

    def view(self) -> tuple[list[str], dict[str, str]]:
        """Copies of what was collected and what failed, safe while the thread runs on."""
        with self._lock:
            return list(self.collected), dict(self.failed)


def bounded(action: Callable[[], _Result], timeout: float, what: str) -> _Result:
    """Run a Docker call on a daemon thread and give up on it after `timeout`: the SDK
    has no per-call deadline, only a socket read timeout per chunk."""
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["value"] = action()
        except BaseException as error:  # handed to the caller's thread as is
            outcome["error"] = error

    thread = threading.Thread(target=run, daemon=True, name=f"labkit-export {what}")
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(f"{what}: no answer within {timeout:.0f}s")
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]


def _write_chunks(path: Path, chunks: Iterable[bytes]) -> None:
    with path.open("wb") as out:
        for chunk in chunks:
            out.write(chunk)


def _container_state(node: Node, timeouts: ExportTimeouts) -> str:
    def read() -> str:
        node.container.reload()
        return str(node.container.status)

    return bounded(read, timeouts.docker, f"docker inspect {node.name}")


def _run_commands(node: Node, spec: NodeFile, path: Path, timeout: float) -> None:
    parts, problems = [], []
    for command in spec.commands:
        result = node.exec(list(command), timeout=timeout, check=False)
        text = result.stdout
        if not result.ok:
            # The last line says it best (kubectl repeats its error above); the file has all.
            detail = ((result.stderr or "").strip().splitlines() or [""])[-1][-300:]
            problems.append(f"`{' '.join(command)}` exited {result.exit_code}: {detail}")
            text += f"\n# exited {result.exit_code}\n{result.stderr}"
        parts.append(f"$ {' '.join(command)}\n{text}" if len(spec.commands) > 1 else text)
    path.write_text("\n".join(parts))
    if problems:
        raise CollectFailed("; ".join(problems) + " (what it printed is in the file)")


def _export_node(
    node: Node, directory: Path, timeouts: ExportTimeouts, collection: Collection
) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    collection.state = _container_state(node, timeouts)
    container = node.container
    collection.attempt(
        "inspect.json",
        lambda: (directory / "inspect.json").write_text(
            json.dumps(container.attrs, indent=2, default=str)
        ),
    )
    collection.attempt(
        "docker-logs.txt",
        lambda: bounded(
            lambda: _write_chunks(
                directory / "docker-logs.txt",
                container.logs(stream=True, follow=False, timestamps=True),
            ),
            timeouts.docker,
            f"docker logs {node.name}",
        ),
    )
    if node.role in _NOT_NODES:
        return  # haproxy and the registry log to stdout: their docker logs are all they have
    if collection.state != "running":
        collection.skipped = [*(f.name for f in NODE_FILES), VAR_LOG]
        return
    for spec in NODE_FILES:
        timeout = timeouts.journal if spec.long else timeouts.command
        collection.attempt(
            spec.name,
            lambda spec=spec, timeout=timeout: _run_commands(
                node, spec, directory / spec.name, timeout
            ),
        )
    collection.attempt(
        VAR_LOG,
        lambda: bounded(
            lambda: _write_chunks(directory / VAR_LOG, container.get_archive("/var/log")[0]),
            timeouts.docker,
            f"docker cp {node.name}:/var/log",
        ),
    )


def _export_lab(
    control_plane: Node, directory: Path, timeouts: ExportTimeouts, collection: Collection
) -> None:
    collection.state = _container_state(control_plane, timeouts)
    if collection.state != "running":
        collection.skipped = [f.name for f in LAB_FILES]
        return
    for spec in LAB_FILES:
        collection.attempt(
            spec.name,
            lambda spec=spec: _run_commands(
                control_plane, spec, directory / spec.name, timeouts.command
            ),
        )


def _run(task: Callable[[], None], collection: Collection) -> None:
    try:
        task()
    except Exception as error:  # the task's own failure, recorded like a file's
        collection.fail("(node)", f"{type(error).__name__}: {error}")
    finally:
        collection.finished = True


def export_logs(
    lab: LabModel,
    directory: str | Path | None = None,
    *,
    timeouts: ExportTimeouts = ExportTimeouts(),
) -> ExportedLogs:
    """Collect every node's and the lab's logs into `directory` (default
    `./labkit-logs/<lab>-<timestamp>`); returns it, with what could not be collected. Never
    raises for what it cannot read; a `directory` it cannot make is a LabkitError."""
    started = datetime.now()
    target = (
        Path(directory)
        if directory
        else Path.cwd() / DEFAULT_PARENT / f"{lab.name}-{started:%Y%m%d-%H%M%S}"
    )
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise LabkitError(f"cannot write the logs into {target}: {error.strerror}") from None
    containers = lab.containers
    for stale in [target / ERRORS_FILE, *(target / n.name / ERRORS_FILE for n in containers)]:
        stale.unlink(missing_ok=True)  # of an earlier export into the same directory
    control_plane = next((n for n in lab.nodes if n.is_control_plane), lab.nodes[0])
    jobs = [
        (
            Collection(f"lab, read on {control_plane.name}"),
            lambda p: _export_lab(control_plane, target, timeouts, p),
        )
    ]
    jobs += [
        (
            Collection(f"{n.role if n.role in _NOT_NODES else 'node'} {n.name}"),
            lambda p, n=n: _export_node(n, target / n.name, timeouts, p),
        )
        for n in containers
    ]
    threads = [
        threading.Thread(
            target=_run,
            args=(lambda p=p, job=job: job(p), p),
            daemon=True,
            name=f"labkit-export {p.title}",
        )
        for p, job in jobs
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeouts.node
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    for node, (collection, _) in zip(containers, jobs[1:], strict=True):
        _write_errors(target / node.name, collection, timeouts)
    _write_errors(target, jobs[0][0], timeouts)
    (target / "summary.txt").write_text(
        summary(lab.name, started, target, [p for p, _ in jobs], timeouts)
    )
    return ExportedLogs.read(target)


def _unfinished(collection: Collection, timeouts: ExportTimeouts) -> str | None:
    return (
        None
        if collection.finished
        else f"did not finish within {timeouts.node:.0f}s; stopped waiting for it"
    )


def _write_errors(directory: Path, collection: Collection, timeouts: ExportTimeouts) -> None:
    lines = [f"{name}: {why}" for name, why in collection.view()[1].items()]
    unfinished = _unfinished(collection, timeouts)
    if unfinished:
        lines.append(unfinished)
    if lines:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / ERRORS_FILE).write_text("\n".join(lines) + "\n")


def summary(
    lab: str,
    started: datetime,
    target: Path,
    collections: list[Collection],
    timeouts: ExportTimeouts,
) -> str:
    lines = [
        f"labkit export-logs of lab {lab!r}, started {started:%Y-%m-%d %H:%M:%S}, into {target}",
        "",
    ]
    for collection in collections:
        collected, failed = collection.view()
        lines.append(f"{collection.title} (container {collection.state}):")
        lines.append("  collected: " + (", ".join(collected) or "nothing"))
        for name, why in failed.items():
            lines.append(f"  FAILED {name}: {why}")
        if collection.skipped:
            lines.append(
                f"  not collected (container {collection.state}, no exec into it): "
                + ", ".join(collection.skipped)
            )
        unfinished = _unfinished(collection, timeouts)
        if unfinished:
            lines.append(f"  UNFINISHED: {unfinished}")
    return "\n".join(lines) + "\n"
