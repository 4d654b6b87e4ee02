"""Reading a lab spec file into YAML data, refusing before or while reading what would
hang (a FIFO), exhaust memory (/dev/zero, a huge file, aliases expanded into a billion
nodes) or crash the parser (bytes that are not UTF-8, nesting deeper than Python's stack).

>>> read_spec_data(Path("/dev/zero"), "/dev/zero")
Traceback (most recent call last):
labkit.errors.LabkitError: /dev/zero: not a regular file but a character device; give a YAML file
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml

from labkit.errors import LabkitError
from labkit.yamldata import StrictLoader

# A spec documenting every field (examples/lab.yaml) is about 6 KiB.
MAX_SPEC_BYTES = 1024 * 1024
# Nodes (scalars, sequences, mappings) once every alias is expanded: the document the
# kubeadm config is rendered from. A billion-laughs file is a few hundred bytes of aliases
# that expand to 10^9 of them.
MAX_EXPANDED_NODES = 100_000
# kubeadm's deepest documents nest about 8 levels; PyYAML composes recursively.
MAX_DEPTH = 64

_FILE_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
)


def read_spec_data(path: Path, source: str) -> Any:
    """The YAML data of the lab spec at `path`; `source` prefixes every refusal."""
    text = _read_text(path, source)
    loader = StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node, source)
        return loader.construct_document(node)
    except yaml.YAMLError as error:
        raise LabkitError(f"{source}: not valid YAML: {error}") from None
    except RecursionError:
        raise LabkitError(
            f"{source}: not a lab spec: YAML nested deeper than {MAX_DEPTH} levels"
        ) from None
    finally:
        loader.dispose()


def _read_text(path: Path, source: str) -> str:
    try:
        # O_NONBLOCK: a FIFO swapped in after a stat must not hang the open.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as error:
        raise LabkitError(f"{source}: cannot read the lab spec: {error.strerror}") from None
    try:
        mode = os.fstat(descriptor)
        kind = next((name for test, name in _FILE_KINDS if test(mode.st_mode)), None)
        if kind or not stat.S_ISREG(mode.st_mode):
            raise LabkitError(
                f"{source}: not a regular file but {kind or 'a special file'}; give a YAML file"
            )
        if mode.st_size > MAX_SPEC_BYTES:
            raise LabkitError(_too_large(source, mode.st_size))
        raw = os.read(descriptor, MAX_SPEC_BYTES + 1)
    except OSError as error:
        raise LabkitError(f"{source}: cannot read the lab spec: {error.strerror}") from None
    finally:
        os.close(descriptor)
    if len(raw) > MAX_SPEC_BYTES:  # it grew since the stat
        raise LabkitError(_too_large(source, len(raw)))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise LabkitError(
            f"{source}: not UTF-8 text (byte {error.start} is {raw[error.start]:#04x}); "
            "a lab spec is a YAML file"
        ) from None
    if "\x00" in text:
        raise LabkitError(f"{source}: not text (it holds NUL bytes); a lab spec is a YAML file")
    return text


def _too_large(source: str, size: int) -> str:
    return (
        f"{source}: {size} bytes is too large for a lab spec; "
        f"at most {MAX_SPEC_BYTES // 1024} KiB is read"
    )


def _check_expansion(root: yaml.Node, source: str) -> None:
    """Refuse a document too deep, or whose aliases expand it past MAX_EXPANDED_NODES,
    before it is constructed: counted once per node object, so a bomb costs its own size."""
    sizes: dict[int, tuple[int, int]] = {}  # id(node): (expanded nodes, depth)
    visiting: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if key in sizes:
            continue
        children = _children(node)
        if children_done:
            visiting.discard(key)
            size = 1 + sum(sizes[id(child)][0] for child in children)
            depth = 1 + max((sizes[id(child)][1] for child in children), default=0)
            sizes[key] = (size, depth)
            if depth > MAX_DEPTH:
                raise LabkitError(
                    f"{source}: not a lab spec: YAML nested deeper than {MAX_DEPTH} levels"
                )
            if size > MAX_EXPANDED_NODES:
                raise LabkitError(
                    f"{source}: its aliases expand it to more than {MAX_EXPANDED_NODES} "
                    "values (a YAML alias bomb?); write the values out or use fewer aliases"
                )
            continue
        if key in visiting:
            raise LabkitError(f"{source}: a YAML alias refers to a value that contains it")
        visiting.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in children if id(child) not in sizes)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []
