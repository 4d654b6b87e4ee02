"""Reading one field of the lab spec: the helpers every part of the parser shares, and the
error that names the field's full path (`spec_from_dict` prefixes the source)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from labkit.errors import SHOWN_LENGTH, cut, shown

__all__ = ["SHOWN_LENGTH", "cut", "shown"]


class _FieldError(Exception):
    """A problem at one field; `spec_from_dict` prefixes the source."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")


def _at(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def _type_error(path: str, expected: str, value: Any) -> _FieldError:
    return _FieldError(path, f"expected {expected}, got {type(value).__name__} {shown(value)}")


def _fields(data: Any, path: str, allowed: tuple[str, ...]) -> Mapping[str, Any]:
    """`data` as a mapping (null is empty) whose keys are all in `allowed`."""
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise _type_error(path or "the top level", "a mapping", data)
    for key in data:
        if key not in allowed:
            expected = ", ".join(allowed)
            raise _FieldError(
                _at(path, key if len(str(key)) <= SHOWN_LENGTH else shown(key)),
                f"unknown field; expected one of {expected}",
            )
    return data


_TYPE_NAMES = {str: "a string", int: "an integer"}


def _get(data: Mapping[str, Any], key: str, kind: type, default: Any, path: str = "") -> Any:
    """The value at `key`, or `default` when it is absent or null (`workers:` left empty)."""
    value = data.get(key)
    if value is None:
        return default
    # bool is an int to Python, but `workers: true` is a mistake, not 1 worker.
    if not isinstance(value, kind) or isinstance(value, bool):
        raise _type_error(_at(path, key), _TYPE_NAMES[kind], value)
    return value
