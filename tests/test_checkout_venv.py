"""Each checkout keeps its own labkit in its own `.venv` (issue 31): `make` and `.ci/run`
run Python, labkit, pytest and ruff from there alone, and a clone's `make install` leaves
this checkout's `labkit` and the machine's interpreter as they were."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# A tool run by its bare name is found on PATH: the machine's, or another checkout's.
TOOLS = {"python", "python3", "labkit", "pytest", "ruff", "pip", "pip3", "uv"}
# Where a shell command starts within a line: after ; && || | $( or a backquote.
COMMAND_START = re.compile(r";|&&|\|\||\||\$\(|`")
EVERY_TARGET = [
    "install",
    "image",
    "scenario-images",
    "lab-up",
    "lab-down",
    "test",
    "test-unit",
    "test-integration",
    "scenarios",
    "lint",
    "prune",
    "conformance",
]


# Run from `make test-unit`, a make's settings would reach the make under test.
OUTER_MAKE = {"MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES"}


def make_commands(*args: str) -> list[str]:
    done = subprocess.run(
        ["make", "--no-print-directory", "-n", "-B", *args],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k not in OUTER_MAKE},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.splitlines()


def bare_tools(lines: list[str]) -> list[str]:
    """The lines that run one of TOOLS by its bare name."""
    return [line for line in lines if TOOLS & set(map(command_name, COMMAND_START.split(line)))]


def command_name(command: str) -> str:
    words = [word for word in command.split() if not re.match(r"\w+=", word)]
    return words[0] if words else ""


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
def test_every_make_target_runs_the_checkouts_own_tools() -> None:
    lines = make_commands(*EVERY_TARGET)
    assert bare_tools(lines) == ["python3 -m venv .venv"], "\n".join(lines)
    assert ".venv/bin/uv pip install --quiet --python .venv/bin/python -e '.[dev]'" in lines
    assert any(line.startswith(".venv/bin/labkit lab up") for line in lines)
    assert any(line.startswith(".venv/bin/python -m pytest tests/ scenarios/") for line in lines)


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
def test_lab_up_says_how_to_get_labkit_on_path_once_at_its_end() -> None:
    lines = make_commands("lab-up")
    hints = [line for line in lines if ". .venv/bin/activate" in line]
    assert len(hints) == 1 and lines[-1] == hints[0], lines


def test_ci_runs_the_checkouts_own_labkit_in_its_exit_trap_too() -> None:
    script = [
        line
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if not line.lstrip().startswith("#")
    ]
    assert bare_tools(script) == [], script
    (trap,) = [line for line in script if line.startswith("trap ")]
    assert '.venv/bin/labkit lab prune --pytest-run "$run_uid"' in trap


def checkout_copy(into: Path) -> Path:
    """This checkout's files as git sees them (tracked and new, not ignored: no .venv)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (entry.decode() for entry in listed)):
        source = ROOT / name
        if source.is_file():
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, into / name)
    return into


def labkit_of(venv_bin: Path) -> str:
    """Where the labkit of a venv's `labkit` command comes from."""
    shebang = (venv_bin / "labkit").read_text().splitlines()[0]
    assert shebang == f"#!{venv_bin / 'python'}", shebang
    return subprocess.run(
        [str(venv_bin / "python"), "-I", "-c", "import labkit; print(labkit.__file__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def pip_show_labkit(env: dict[str, str]) -> str:
    done = subprocess.run(
        ["python3", "-m", "pip", "show", "labkit"], env=env, capture_output=True, text=True
    )
    return done.stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
@pytest.mark.skipif(sys.prefix == sys.base_prefix, reason="not run from a checkout's venv")
@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="not a git checkout")
def test_a_clones_make_install_leaves_this_checkouts_labkit_alone(tmp_path: Path) -> None:
    ours = Path(sys.executable).parent
    # The machine's python3 first on PATH, as in a shell without this venv activated.
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if Path(p) != ours)
    unset = {"VIRTUAL_ENV", *OUTER_MAKE}
    env = {k: v for k, v in os.environ.items() if k not in unset} | {"PATH": path}
    before = labkit_of(ours), pip_show_labkit(env)

    clone = checkout_copy(tmp_path / "clone")
    done = subprocess.run(
        ["make", "install"], cwd=clone, env=env, capture_output=True, text=True, timeout=300
    )

    assert done.returncode == 0, done.stdout + done.stderr
    output = done.stdout + done.stderr
    assert "WARNING" not in output and "conflict" not in output, output
    assert labkit_of(clone / ".venv" / "bin") == str(clone / "labkit" / "__init__.py")
    assert (labkit_of(ours), pip_show_labkit(env)) == before
