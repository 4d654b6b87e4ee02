"""Argument types the commands share: argparse refuses a bad value with exit 2, naming the
argument, before the command looks up a lab or builds anything.

>>> seconds("inf")
Traceback (most recent call last):
argparse.ArgumentTypeError: 'inf' is not a number of seconds, 0 or more
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

from labkit.spec.fields import shown
from labkit.spec.image_reference import image_reference_problem
from labkit.suites.expressions import re2_problem


def seconds(text: str) -> float:
    """A finite number of seconds, 0 or more."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{shown(text)} is not a number of seconds, 0 or more")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{shown(text)} is not a whole number, 1 or more")
    return value


def re2_pattern(text: str) -> str:
    """A regular expression as Go's regexp (ginkgo's --focus and --skip) reads it."""
    problem = re2_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(f"{shown(text)}{problem}")
    return text


def output_directory(text: str) -> str:
    """A directory to write into: one that exists and may be written, or one that can be
    made in the nearest folder that exists."""
    path = Path(text).expanduser().absolute()
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        what = "is a file, not a directory" if existing == path else f"is in {existing}, a file"
        raise argparse.ArgumentTypeError(f"{shown(text)} {what}; give a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        where = "" if existing == path else f": it would be made in {existing}"
        raise argparse.ArgumentTypeError(f"{shown(text)} cannot be written{where}; give another")
    return text


def image_reference(text: str) -> str:
    problem = image_reference_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(f"{shown(text)} {problem}")
    return text
