"""Work on several nodes at once, reporting every node that failed, not only the first."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from labkit.errors import StepFailed

_Item = TypeVar("_Item")
_Result = TypeVar("_Result")


def parallel(items: Sequence[_Item], action: Callable[[_Item], _Result]) -> list[_Result]:
    """Run `action` on every item at once and wait for all.

    One failure is raised as it is; several become one `StepFailed` that names each node
    and carries all their evidence (`StepFailed.failures` holds them one by one).
    """
    if not items:
        return []
    with ThreadPoolExecutor(max_workers=len(items)) as pool:
        futures = [pool.submit(action, item) for item in items]
        errors = [error for f in futures if (error := f.exception()) is not None]
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise StepFailed.of_several([_as_step_failure(e) for e in errors]) from errors[0]
    return [f.result() for f in futures]


def _as_step_failure(error: BaseException) -> StepFailed:
    if isinstance(error, StepFailed):
        return error
    return StepFailed(reason=f"{type(error).__name__}: {error}")
