"""The one shape of what labkit's verbs return, so a Python user reads a result the way the
CLI shows it: `.ok` is the truth the command's exit code says, `str(result)` is what the
command prints at its end, `as_dict()` is the result as plain JSON data (what its `--json`
prints, unless `as_json` says otherwise) and the repr is one line.

The CLI prints `str(result)` and `json.dumps(result.as_json())`: the text and the JSON a
user sees from Python and from the terminal come from the same function.

    >>> run = lab.check()  # doctest: +SKIP
    >>> run  # doctest: +SKIP
    <CheckRun 'demo': 45 rules, 2 nodes, 0 failures, ok>
    >>> assert run.ok, run  # doctest: +SKIP (the message is then the CLI's text)

Python shows an assertion's message as its `str()`; pytest shows it as its repr, cut to 240
characters, but for a result labkit's pytest plugin (loaded by its entry point) makes it the
`str()` again (`labkit/pytest_assertion.py`).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from typing import Any


class Result(ABC):
    """Mixed into each result dataclass, which is declared with `repr=False`: a dataclass's
    own repr would dump every nested object (a snapshot's events, every finding)."""

    @property
    @abstractmethod
    def ok(self) -> bool:
        """What the CLI's exit code says: True exactly when the command exits 0."""

    @abstractmethod
    def __str__(self) -> str:
        """What the CLI prints for this result at its end (not its progress lines)."""

    @abstractmethod
    def as_dict(self) -> dict[str, Any]:
        """The result as plain JSON-serializable data."""

    @abstractmethod
    def _headline(self) -> str:
        """A name and a count or two: the middle of the repr."""

    def as_json(self) -> Any:
        """What the command's `--json` prints; `as_dict()` unless that JSON predates this
        shape (a list, kept so tools reading it go on working)."""
        return self.as_dict()

    def json_text(self) -> str:
        return json.dumps(self.as_json(), indent=2)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._headline()}, {'ok' if self.ok else 'not ok'}>"
