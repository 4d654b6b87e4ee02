"""Whether a text is an image reference Docker accepts, as distribution/reference's grammar
writes it: checked before a reference reaches the engine, which answers a malformed one with
a 400 that reads like the engine's own failure.

>>> image_reference_problem("labkit/node:v1.37.2") is None
True
>>> image_reference_problem("Labkit/Node")
'has a repository name that is not lowercase'
"""

from __future__ import annotations

import re

_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(rf"(?P<name>{_NAME})(?::{_TAG})?(?:@{_DIGEST})?")
# distribution/reference's NameTotalLengthMax.
MAX_NAME_LENGTH = 255


def image_reference_problem(text: str) -> str | None:
    """What is wrong with `text` as an image reference (to follow the reference in a
    message), or None when Docker accepts it."""
    match = _REFERENCE.fullmatch(text)
    if match is None:
        if _REFERENCE.fullmatch(text.lower()):
            return "has a repository name that is not lowercase"
        return (
            "is not an image reference such as labkit/node:v1.37.2 or "
            "registry.example:5000/team/app@sha256:<64 hex digits>"
        )
    if len(match["name"]) > MAX_NAME_LENGTH:
        return f"has a repository name longer than {MAX_NAME_LENGTH} characters"
    return None
