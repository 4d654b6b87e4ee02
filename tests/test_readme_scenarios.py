"""The README's plugin examples are scenarios CI runs: each ```python block of "The pytest
plugin" section is found, marker and functions alike, in a module under scenarios/ (code
compared through its syntax tree, so comments and layout may differ)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SECTION = re.compile(r"^## The pytest plugin\n(?P<body>.*?)^## ", re.MULTILINE | re.DOTALL)
BLOCK = re.compile(r"^```python\n(?P<code>.*?)^```", re.MULTILINE | re.DOTALL)


def readme_blocks() -> list[str]:
    section = SECTION.search((ROOT / "README.md").read_text())
    assert section, "the README has no 'The pytest plugin' section"
    return [match["code"] for match in BLOCK.finditer(section["body"])]


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
    "block", readme_blocks(), ids=lambda b: next(iter(functions(ast.parse(b))), "?")
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
