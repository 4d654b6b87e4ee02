"""The pytest plugin, driven through pytester with a fake bring-up (no Docker)."""

from __future__ import annotations

import pytest

from labkit.pytest_plugin import lab_name

pytest_plugins = ["pytester"]

FAKE_LABS = """
import json, os
import pytest
import labkit.lab.bringup as bringup
import labkit.lab.lab as lab_module
from labkit.diagnose import report as diagnose_report

LOG = os.environ["FAKE_LAB_LOG"]

def record(event, name):
    with open(LOG, "a") as f:
        f.write(json.dumps([event, name]) + "\\n")

class FakeLab(lab_module.Lab):
    def __init__(self, spec):
        self.name, self.spec, self.nodes, self.client = spec.name, spec, [], None
    def down(self):
        record("down", self.name)

class Result:
    def __init__(self, lab):
        self.lab, self.timings = lab, []

# Session-scoped so that it is in place before any module-scoped `lab` fixture.
@pytest.fixture(scope="session", autouse=True)
def fake_bring_up():
    def bring_up(spec, **kwargs):
        record("up", f"{spec.name}:{spec.workers}:{spec.cni}")
        return Result(FakeLab(spec))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bringup, "bring_up", bring_up)
        patch.setattr("labkit.diagnose.diagnose", lambda lab: [])
        patch.setattr("labkit.lab.export_logs.export_logs", lambda lab, d: d)
        yield
"""


@pytest.fixture
def fake(pytester: pytest.Pytester, tmp_path, monkeypatch):
    log = tmp_path / "labs.log"
    log.touch()
    monkeypatch.setenv("FAKE_LAB_LOG", str(log))
    pytester.makeconftest(FAKE_LABS)
    return log


def events(log) -> list[list[str]]:
    import json

    return [json.loads(line) for line in log.read_text().splitlines()]


def test_lab_names_are_rfc1123_and_unique_per_worker() -> None:
    a = lab_name("scenarios/test_smoke.py::test_x", "gw0")
    b = lab_name("scenarios/test_smoke.py::test_x", "gw1")
    assert a != b
    for name in (a, b, lab_name("x/" + "Very_Long_Name" * 9 + ".py::t", "gw12")):
        assert len(name) <= 40
        assert all((c.isalnum() and c.islower()) or c.isdigit() or c == "-" for c in name)
        assert not name.startswith("-") and not name.endswith("-")


def test_marker_shapes_the_module_lab_and_teardown_removes_it(pytester, fake) -> None:
    pytester.makepyfile(test_a="""
        import pytest
        pytestmark = pytest.mark.lab(workers=1, cni="none")
        def test_one(lab):
            assert lab.spec.workers == 1
        def test_two(lab):
            assert lab.spec.cni == "none"
    """)
    result = pytester.runpytest()
    result.assert_outcomes(passed=2)
    kinds = [e[0] for e in events(fake)]
    assert kinds == ["up", "down"], "one lab for the module, removed after it"
    assert events(fake)[0][1].endswith(":1:none")


def test_lab_factory_removes_every_lab(pytester, fake) -> None:
    pytester.makepyfile(test_b="""
        def test_two_labs(lab_factory):
            first = lab_factory(workers=0)
            second = lab_factory(workers=2)
            assert first.name != second.name
    """)
    pytester.runpytest().assert_outcomes(passed=1)
    assert [e[0] for e in events(fake)] == ["up", "up", "down", "down"]


def test_keep_leaves_a_failed_lab_and_the_report_has_labkit_sections(pytester, fake) -> None:
    pytester.makepyfile(test_c="""
        def test_fails(lab):
            assert False
    """)
    result = pytester.runpytest("--lab-keep", "-rA")
    result.assert_outcomes(failed=1)
    assert [e[0] for e in events(fake)] == ["up"], "kept: no `down` after a failure"
    result.stdout.fnmatch_lines(["*labkit diagnosis of lk-*", "*labkit logs of lk-*",
                                 "*keeping lab*"])


def test_without_keep_a_failed_lab_is_removed(pytester, fake) -> None:
    pytester.makepyfile(test_d="""
        def test_fails(lab):
            assert False
    """)
    pytester.runpytest().assert_outcomes(failed=1)
    assert [e[0] for e in events(fake)] == ["up", "down"]


def test_bad_version_option_is_a_usage_error(pytester) -> None:
    pytester.makepyfile(test_e="def test_x(): pass")
    result = pytester.runpytest("--lab-kubernetes-version", "latest")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--lab-kubernetes-version*expected vMAJOR.MINOR.PATCH*"])


def test_marker_is_registered(pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.lab(**spec)*"])
