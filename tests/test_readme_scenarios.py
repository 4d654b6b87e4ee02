"""The README's Python examples cannot go stale: each ```python block with a test function
is found, marker and functions alike, in a module under scenarios/ that CI runs (code
compared through its syntax tree, so comments and layout may differ); each block without
one is a library example, run here against a fake lab, and the reprs its comments show are
what it prints."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from diagnose_objects import snapshot

import labkit.host
from labkit.checks.lab import CheckRun
from labkit.constants import ROLE_CONTROL_PLANE, ROLE_WORKER
from labkit.diagnose import LabDiagnosis
from labkit.facade import Lab
from labkit.host import DoctorCheck
from labkit.lab.node import Node
from labkit.lab.status import ApiStatus, LabStatus

ROOT = Path(__file__).resolve().parent.parent
SECTION = re.compile(r"^## The pytest plugin\n(?P<body>.*?)^## ", re.MULTILINE | re.DOTALL)
BLOCK = re.compile(r"^```python\n(?P<code>.*?)^```", re.MULTILINE | re.DOTALL)
# `print(repr(x))  # <CheckRun ...>`: the comment is what the line prints.
SHOWN_REPR = re.compile(r"^print\(repr\(.*\)\)\s+# (?P<repr><.*>)$", re.MULTILINE)


def readme_blocks() -> list[str]:
    section = SECTION.search((ROOT / "README.md").read_text())
    assert section, "the README has no 'The pytest plugin' section"
    return [match["code"] for match in BLOCK.finditer(section["body"])]


def every_block() -> list[str]:
    return [match["code"] for match in BLOCK.finditer((ROOT / "README.md").read_text())]


def scenario_blocks() -> list[str]:
    return [block for block in every_block() if functions(ast.parse(block))]


def library_blocks() -> list[str]:
    return [block for block in every_block() if not functions(ast.parse(block))]


def marker(tree: ast.Module) -> str | None:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets
        ):
            return ast.unparse(node.value)
    return None


def functions(tree: ast.Module) -> dict[str, str]:
    """name -> source of each top-level function, without its docstring."""
    found = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                body = body[1:]
            found[node.name] = ast.unparse(ast.FunctionDef(**{**vars(node), "body": body}))
    return found


def scenario_modules() -> dict[Path, ast.Module]:
    return {path: ast.parse(path.read_text()) for path in sorted(ROOT.glob("scenarios/test_*.py"))}


def test_the_plugin_section_shows_a_scenario_per_capability() -> None:
    names = {name for block in readme_blocks() for name in functions(ast.parse(block))}
    assert len(readme_blocks()) >= 4, names


@pytest.mark.parametrize(
    "block", scenario_blocks(), ids=lambda b: next(iter(functions(ast.parse(b))), "?")
)
def test_each_example_is_a_scenario_ci_runs(block: str) -> None:
    tree = ast.parse(block)
    shown = functions(tree)
    assert shown, f"an example without a test function:\n{block}"
    homes = [
        (path, module)
        for path, module in scenario_modules().items()
        if shown.keys() <= functions(module).keys()
    ]
    assert homes, f"no scenario module defines {', '.join(shown)}"
    path, module = homes[0]
    assert marker(tree) == marker(module), f"{path.name}'s marker differs from the README's"
    for name, source in shown.items():
        assert functions(module)[name] == source, f"{path.name}::{name} differs from the README's"


def demo_lab(monkeypatch: pytest.MonkeyPatch) -> None:
    """`Lab.find(..., "demo")` finds a healthy two-node lab whose verbs answer at once."""
    nodes = [
        Node(f"demo-{suffix}", role, SimpleNamespace(status="running"))  # type: ignore[arg-type]
        for suffix, role in (("control-plane", ROLE_CONTROL_PLANE), ("worker", ROLE_WORKER))
    ]
    found = Lab("demo", "client", nodes)
    names = tuple(node.name for node in nodes)
    monkeypatch.setattr(labkit.host, "docker_client", lambda *args, **kwargs: "client")
    monkeypatch.setattr(Lab, "find", classmethod(lambda cls, client, name: found))
    monkeypatch.setattr(Lab, "check", lambda self, **_: CheckRun("demo", (), names, 48, (), 0, 1))
    monkeypatch.setattr(Lab, "diagnose", lambda self: LabDiagnosis((), snapshot()))
    api = ApiStatus("https://127.0.0.1:40123", True, None)
    status = LabStatus("demo", found.kubeconfig, (), api, (), {}, None)
    monkeypatch.setattr(Lab, "status", lambda self: status)
    monkeypatch.setattr(labkit.host, "doctor_checks", lambda: [DoctorCheck("engine", True, "")])


def test_the_readme_shows_library_examples() -> None:
    assert library_blocks(), "the README shows no example of the library's results"


@pytest.mark.parametrize("block", library_blocks(), ids=lambda b: b.splitlines()[-1][:40])
def test_each_library_example_runs(
    block: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    demo_lab(monkeypatch)
    exec(compile(block, "README.md", "exec"), {"__name__": "readme_example"})
    printed = capsys.readouterr().out.splitlines()
    for shown in SHOWN_REPR.finditer(block):
        assert shown["repr"] in printed, f"the README says {shown['repr']}; it printed {printed}"
