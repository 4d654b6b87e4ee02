"""The layering rule, read from every import statement (at top level, inside functions and
under TYPE_CHECKING alike): the ground (names, spec, host, kubeadm, node images) imports no
lab, `labkit/lab/` imports nothing above it, and the consumers of a lab (checks, diagnose,
suites, troubleshooting) never import the facade, the CLI or the plugin."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "labkit"

# What sits above the lab model, and what sits above its consumers.
FACADE_AND_ENTRY_POINTS = (
    "labkit.facade",
    "labkit.cli",
    "labkit.pytest_plugin",
    "labkit.pytest_ownership",
    "labkit.pytest_assertion",
    "labkit.labkit_host",
    "labkit.__main__",
)
CONSUMERS = ("labkit.checks", "labkit.diagnose", "labkit.suites", "labkit.troubleshooting")
# The ground the lab stands on: names, the spec, the host, kubeadm, the images it runs.
GROUND = (
    "labkit.constants",
    "labkit.errors",
    "labkit.naming",
    "labkit.versions",
    "labkit.pipeline",
    "labkit.results",
    "labkit.spec",
    "labkit.host",
    "labkit.kubeadm",
    "labkit.nodeimage",
)
RULES = {
    **{ground: ("labkit.lab", *CONSUMERS, *FACADE_AND_ENTRY_POINTS) for ground in GROUND},
    "labkit.lab": (*CONSUMERS, *FACADE_AND_ENTRY_POINTS),
    **{consumer: FACADE_AND_ENTRY_POINTS for consumer in CONSUMERS},
}
# `from labkit import Lab` is the facade by another name (labkit/__init__.py's lazy names).
PACKAGE_NAMES = {"Lab": "labkit.facade", "LabkitHost": "labkit.labkit_host"}


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(tree: ast.AST, module: str) -> list[tuple[int, str]]:
    """(line, module) of every import in the tree, relative ones resolved."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")[: -node.level or None]
                base = ".".join([*anchor, base] if base else anchor)
            if base == "labkit":
                found += [
                    (node.lineno, PACKAGE_NAMES.get(alias.name, f"labkit.{alias.name}"))
                    for alias in node.names
                ]
            else:
                found.append((node.lineno, base))
    return found


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def violations(root: Path) -> list[str]:
    """`path:line module -> imported` for every import that goes against RULES."""
    found = []
    for path in sorted(root.rglob("*.py")):
        module = module_name(path, root)
        forbidden = next((f for p, f in RULES.items() if within(module, p)), ())
        tree = ast.parse(path.read_text(), filename=str(path))
        for line, imported in imported_modules(tree, module):
            if any(within(imported, above) for above in forbidden):
                found.append(f"{path.relative_to(root.parent)}:{line} {module} -> {imported}")
    return found


def test_the_package_keeps_its_layers() -> None:
    assert violations(PACKAGE) == []


PLANTED = {
    "lab/model.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
    "    from labkit.checks.lab import CheckRun\n",
    "lab/status.py": "def f():\n    from labkit.facade import Lab\n",
    "lab/waits.py": "from labkit import Lab\n",
    "lab/images.py": "from ..diagnose import fetch\n",
    "diagnose/fetch.py": "import labkit.cli\n",
    "suites/run.py": "from labkit.lab.model import LabModel\n",  # downward: allowed
    "facade.py": "from labkit.checks import lab\n",  # the facade composes: allowed
}


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    root = tmp_path / "labkit"
    for name, source in PLANTED.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(source)
    return root


def test_an_upward_import_anywhere_in_a_module_is_found(planted: Path) -> None:
    assert violations(planted) == [
        "labkit/diagnose/fetch.py:1 labkit.diagnose.fetch -> labkit.cli",
        "labkit/lab/images.py:1 labkit.lab.images -> labkit.diagnose",
        "labkit/lab/model.py:3 labkit.lab.model -> labkit.checks.lab",
        "labkit/lab/status.py:2 labkit.lab.status -> labkit.facade",
        "labkit/lab/waits.py:1 labkit.lab.waits -> labkit.facade",
    ]
