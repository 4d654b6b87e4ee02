"""What `export_logs` returns: the directory it wrote, and whether anything in it could not
be collected. It is a path-like (`open`, `Path(...)`, `logs / "summary.txt"`, `.iterdir()`
take it), as the plain `Path` it used to be."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labkit.results import Result

# Written into the lab's directory or a node's exactly when something there failed.
ERRORS_FILE = "errors.txt"


@dataclass(frozen=True, repr=False)
class ExportedLogs(Result, os.PathLike[str]):
    """`str()` is what `labkit lab export-logs` prints: the directory."""

    path: Path
    # The errors.txt files written, relative to `path`: empty when everything was collected.
    errors: tuple[str, ...] = ()

    @classmethod
    def read(cls, path: Path) -> ExportedLogs:
        found = sorted(str(p.relative_to(path)) for p in path.rglob(ERRORS_FILE))
        return cls(path, tuple(found))

    @property
    def directory(self) -> Path:
        return self.path

    @property
    def ok(self) -> bool:
        # `lab export-logs` exits 0 with what it could collect; `complete` says if it was all.
        return True

    @property
    def complete(self) -> bool:
        return not self.errors

    @property
    def warning(self) -> str | None:
        """What the CLI says on stderr when something could not be collected."""
        if self.complete:
            return None
        return f"some logs could not be collected; see {self.path / 'summary.txt'}"

    def __fspath__(self) -> str:
        return os.fspath(self.path)

    def __truediv__(self, other: str | os.PathLike[str]) -> Path:
        return self.path / other

    def __getattr__(self, name: str) -> Any:
        # Callers of the plain Path this used to be read `.iterdir()`, `.rglob()`, `.name`.
        # `path` itself and dunders are never delegated: a copy or an unpickling asks for
        # them before `path` is set.
        if name == "path" or name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.path, name)

    def __str__(self) -> str:
        return str(self.path)

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "ok": self.ok,
            "complete": self.complete,
            "summary": str(self.path / "summary.txt"),
            "errors": list(self.errors),
        }

    def _headline(self) -> str:
        return f"{str(self.path)!r}: {len(self.errors)} with errors"
