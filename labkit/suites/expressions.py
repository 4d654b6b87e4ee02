"""ginkgo's --focus and --skip are Go regular expressions (RE2): what RE2 refuses that
Python's re would accept is said here once, for `SuiteRequest` and the CLI alike.

>>> re2_problem("a(?=b)")
": Go's regexp (RE2), which ginkgo uses, has no lookarounds ((?=, (?!, (?<=, (?<!)"
"""

from __future__ import annotations

import re

# Backreferences, lookarounds, atomic groups, possessive quantifiers, conditionals (the
# last four looked for with every escaped character taken out).
_BACKREFERENCE = re.compile(r"\\[1-9]|\(\?P=|\\g<")
_NOT_RE2 = (
    (re.compile(r"\(\?<?[=!]"), "lookarounds ((?=, (?!, (?<=, (?<!)"),
    (re.compile(r"\(\?>"), "atomic groups ((?>)"),
    (re.compile(r"[*+?}]\+"), "possessive quantifiers (*+, ++, ?+)"),
    (re.compile(r"\(\?\("), "conditionals ((?(...))"),
)
# RE2's escapes that Python's re does not know, as Python may read them for the check.
_RE2_ONLY_ESCAPES = re.compile(r"\\[pP](\{[^}]*\}|[A-Za-z])|\\[zCQE]")
_RE2 = ": Go's regexp (RE2), which ginkgo uses,"


def re2_problem(expression: str) -> str | None:
    """Why ginkgo would refuse `expression`, worded to follow the expression in a message
    (`'a(?=b)': Go's regexp ... has no lookarounds`, `'a(' is not a regular expression`),
    or None."""
    if _BACKREFERENCE.search(re.sub(r"\\\\", "", expression)):
        return f"{_RE2} has no backreferences"
    unescaped = re.sub(r"\\.", "", expression)
    for construct, what in _NOT_RE2:
        if construct.search(unescaped):
            return f"{_RE2} has no {what}"
    try:
        re.compile(_RE2_ONLY_ESCAPES.sub("a", expression))
    except re.error as error:
        return f" is not a regular expression: {error}"
    return None
