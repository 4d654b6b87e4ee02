"""A command in a node with its streams joined to files, as `docker exec -i[t]` does: what
`labkit lab exec` runs, through the Docker SDK rather than the docker CLI."""

from __future__ import annotations

import contextlib
import os
import socket
import termios
import threading
import tty as terminal
from collections.abc import Iterator, Sequence
from typing import BinaryIO

import docker
from docker.utils.socket import STDERR, frames_iter

from labkit.lab.node import exec_exit_code

_CHUNK = 64 * 1024


def exec_attached(
    container: docker.models.containers.Container,
    command: Sequence[str],
    *,
    stdin: BinaryIO | None,
    stdout: BinaryIO,
    stderr: BinaryIO,
    tty: bool = False,
) -> int:
    """Run `command` in `container`, feeding it `stdin` (closed at its end) and writing its
    output as it comes; returns its exit code. With `tty`, stdin is a terminal put in raw
    mode for the command's lifetime and the command gets a terminal of the same size."""
    api = container.client.api
    exec_id = api.exec_create(
        container.id, list(command), stdin=stdin is not None, tty=tty, stdout=True, stderr=True
    )["Id"]
    stream = api.exec_start(exec_id, socket=True, tty=tty)
    # The hijacked connection: its write half carries stdin, closing it is the command's EOF.
    connection: socket.socket = getattr(stream, "_sock", stream)
    with contextlib.ExitStack() as stack:
        stack.callback(stream.close)
        if tty and stdin is not None:
            stack.enter_context(_raw_terminal(stdin))
            _match_terminal_size(api, exec_id, stdin)
        if stdin is not None:
            # A daemon thread: a terminal's read blocks until a key press after the command
            # has ended, and must not hold the process.
            threading.Thread(target=_copy_stdin, args=(stdin, connection), daemon=True).start()
        for kind, data in frames_iter(stream, tty):
            target = stderr if kind == STDERR else stdout
            target.write(data)
            target.flush()
    return exec_exit_code(api, exec_id)


def _copy_stdin(stdin: BinaryIO, connection: socket.socket) -> None:
    try:
        while chunk := _read_some(stdin):
            connection.sendall(chunk)
        connection.shutdown(socket.SHUT_WR)
    except OSError:  # the command ended and Docker closed the connection first
        pass


def _read_some(stdin: BinaryIO) -> bytes:
    # What is there now, not a full chunk: a terminal's keys go as typed.
    try:
        return os.read(stdin.fileno(), _CHUNK)
    except (AttributeError, OSError, ValueError):  # an in-memory file has no descriptor
        return stdin.read(_CHUNK)


@contextlib.contextmanager
def _raw_terminal(stdin: BinaryIO) -> Iterator[None]:
    descriptor = stdin.fileno()
    saved = termios.tcgetattr(descriptor)
    terminal.setraw(descriptor)
    try:
        yield
    finally:
        termios.tcsetattr(descriptor, termios.TCSADRAIN, saved)


def _match_terminal_size(api: docker.APIClient, exec_id: str, stdin: BinaryIO) -> None:
    with contextlib.suppress(OSError, docker.errors.APIError):
        size = os.get_terminal_size(stdin.fileno())
        api.exec_resize(exec_id, height=size.lines, width=size.columns)
