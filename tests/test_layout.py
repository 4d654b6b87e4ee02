"""`make test` collects tests/ and scenarios/ in one run, and neither folder is a package:
pytest imports each test module by its basename, so one name in both folders stops the
whole run at collection ("import file mismatch")."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_no_test_module_name_is_in_both_tests_and_scenarios() -> None:
    def names(folder: str) -> set[str]:
        return {p.name for p in (ROOT / folder).rglob("test_*.py")}

    assert names("tests") & names("scenarios") == set()
