"""`assert result.ok, result` fails with the CLI's text of any labkit result, not its repr.

pytest gives the message of a bare `assert x, message` to `_format_assertmsg`, which shows
anything but a string as its repr cut to 240 characters, and it has no hook for that
message (`pytest_assertrepr_compare` is for comparisons only). The test modules it rewrote
call that function through their `_pytest.assertion.rewrite` module's attribute each time
an assertion fails, so the plugin swaps the attribute for the session and puts the one it
found back after; a result's repr stays one short line everywhere else.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from labkit.results import Result

MessageFormat = Callable[[object], str]
_FOUND = pytest.StashKey[MessageFormat]()


def results_as_text(found: MessageFormat) -> MessageFormat:
    """pytest's message format, but a labkit `Result` is given to it as its `str()`."""

    def format_message(message: object) -> str:
        if isinstance(message, Result):
            try:
                text = str(message)
            except Exception:
                # A result whose text cannot be made must not hide the assertion: pytest's
                # own format shows the repr, or says which exception the repr raised.
                return found(message)
            # As a string, pytest keeps its lines (and escapes its `%`).
            return found(text)
        return found(message)

    return format_message


def show_results_as_text(config: pytest.Config) -> None:
    """From `pytest_configure`: this config's assertions show a result as the CLI's text."""
    try:
        from _pytest.assertion import rewrite
    except ImportError:
        return
    found = getattr(rewrite, "_format_assertmsg", None)
    if found is None:
        # A pytest that formats messages some other way: its repr still says what failed,
        # and `assert result.ok, str(result)` still shows the text.
        return
    config.stash[_FOUND] = found
    rewrite._format_assertmsg = results_as_text(found)


def restore_message_format(config: pytest.Config) -> None:
    """From `pytest_unconfigure`: put back the format this config found (pytester runs one
    config inside another, each swapping in turn)."""
    found = config.stash.get(_FOUND, None)
    if found is None:
        return
    from _pytest.assertion import rewrite

    rewrite._format_assertmsg = found
    del config.stash[_FOUND]
