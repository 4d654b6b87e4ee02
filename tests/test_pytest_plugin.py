"""The pytest plugin, driven through pytester with a fake bring-up (no Docker)."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import pytest

import labkit.host
import labkit.lab.model
import labkit.version_report
from labkit import pytest_plugin
from labkit.cli import main
from labkit.errors import LabkitError
from labkit.pytest_ownership import lab_name, labs_of, run_id, run_id_of

pytest_plugins = ["pytester"]

FAKE_LABS = """
import json, os
import pytest
import labkit.facade as lab_module
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
    def bring_up(cls, spec, **kwargs):
        record("up", f"{spec.name}:{spec.workers}:{spec.cni}")
        return Result(FakeLab(spec))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(lab_module.Lab, "up", classmethod(bring_up))
        nothing = diagnose_report.LabDiagnosis((), None)
        patch.setattr("labkit.diagnose.diagnose", lambda lab: nothing)
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


DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def test_lab_names_are_rfc1123_and_unique_per_worker() -> None:
    a = lab_name("scenarios/test_smoke.py::test_x", "1a2b3c-gw0")
    b = lab_name("scenarios/test_smoke.py::test_x", "1a2b3c-gw1")
    other_run = lab_name("scenarios/test_smoke.py::test_x", "ffffff-gw0")
    assert len({a, b, other_run}) == 3, "unique per worker and per run"
    long_nodeid = "x/" + "Very_Long_Name" * 9 + ".py::t"
    for owner in ("1a2b3c-gw", "1a2b3c-gw12", "1a2b3c-gw1234"):
        name = lab_name(long_nodeid, owner)
        # The stem is shortened, not the owner: the reaper matches on the end of the name.
        assert name.endswith(f"-{owner}")
        # LabFactory appends `-1`, `-2`, ... for a test's further labs.
        for candidate in (name, name + "-99"):
            assert len(candidate) <= 40, candidate
            assert DNS_LABEL.match(candidate), candidate
    for name in (a, b):
        assert DNS_LABEL.match(name)


def fake_config(testrunuid_option: str | None = None, **workerinput: str) -> SimpleNamespace:
    options = {"testrunuid": testrunuid_option}
    config = SimpleNamespace(
        stash=pytest.Stash(), getoption=lambda name, default=None: options.get(name, default)
    )
    if workerinput:
        config.workerinput = workerinput
    return config


def test_run_id_is_shared_by_the_controller_and_its_workers() -> None:
    uid = "c0ffee" + "0" * 26
    workers = [fake_config(testrunuid=uid, workerid=f"gw{i}") for i in range(2)]
    controller = fake_config()
    pytest_plugin.pytest_configure_node(
        SimpleNamespace(config=controller, workerinput={"testrunuid": uid, "workerid": "gw0"})
    )
    ids = {run_id(config) for config in (*workers, controller)}
    assert len(ids) == 1
    assert re.fullmatch(r"[0-9a-f]{6}", ids.pop())


def test_run_id_without_xdist_is_fresh_per_session_and_stable_within_one() -> None:
    first, second = fake_config(), fake_config()
    assert run_id(first) == run_id(first)
    assert run_id(first) != run_id(second)
    # `--testrunuid` takes any string; names must stay DNS labels.
    assert re.fullmatch(r"[0-9a-f]{6}", run_id(fake_config(testrunuid="CI_Job#42")))


def test_a_given_testrunuid_names_the_run_without_xdist_too() -> None:
    # .ci/run passes --testrunuid to a run without -n, then prunes that run's labs alone.
    given = fake_config(testrunuid_option="ci-run-1")
    worker = fake_config(testrunuid="ci-run-1", workerid="gw0")
    assert run_id(given) == run_id(worker) != run_id(fake_config())


def test_labs_of_picks_one_workers_labs_of_one_run() -> None:
    names = [
        "lk-a-e1887a-752cff-gw1",
        "lk-a-e1887a-752cff-gw10",
        "lk-a-e1887a-752cff-gw1-1",
        "lk-b-1c2d3e-752cff-gw0",
        "lk-x-abc123-gw1",
        "demo",
    ]
    assert labs_of(names, "752cff", "gw1") == ["lk-a-e1887a-752cff-gw1", "lk-a-e1887a-752cff-gw1-1"]
    assert labs_of(names, "752cff") == names[:4]
    assert labs_of(names, "abc123") == [], "a lab named before run ids is nobody's to remove"
    assert labs_of(["lk-a-e1887a-752cff-gw"], "752cff") == ["lk-a-e1887a-752cff-gw"]


RUN_UID = "d00d00" + "0" * 26
RUN = run_id_of(RUN_UID)
OTHER = "0badc0" if RUN != "0badc0" else "0badc1"
HOST_LABS = [
    f"lk-smoke-813ffb-{RUN}-gw0",  # a live worker of this run
    f"lk-smoke-813ffb-{RUN}-gw1",  # the worker that crashes
    f"lk-factory-1c2d3e-{RUN}-gw1-1",  # its second lab_factory lab
    f"lk-smoke-813ffb-{RUN}-gw10",
    f"lk-smoke-813ffb-{OTHER}-gw1",  # someone else's run, same worker id
    f"lk-smoke-813ffb-{OTHER}-gw",
    "lk-smoke-813ffb-gw1",  # named before run ids
    "demo",  # `labkit lab up --name demo`
]


@pytest.fixture
def host(monkeypatch) -> SimpleNamespace:
    """A Docker host as the reaper sees it: list_labs and delete_lab, and nothing else."""
    state = SimpleNamespace(labs=list(HOST_LABS), deleted=[], clients=0)

    def docker_client() -> str:
        state.clients += 1
        return "client"

    def delete_lab(client: str, name: str) -> None:
        state.labs.remove(name)
        state.deleted.append(name)

    monkeypatch.setattr(labkit.host, "docker_client", docker_client)
    monkeypatch.setattr(labkit.lab.model, "list_labs", lambda client: list(state.labs))
    monkeypatch.setattr(labkit.lab.model, "delete_lab", delete_lab)
    return state


def controller_with_workers(pytester: pytest.Pytester, *args: str) -> tuple[Any, list[Any]]:
    config = pytester.parseconfig(*args)
    nodes = [
        SimpleNamespace(config=config, workerinput={"workerid": f"gw{i}", "testrunuid": RUN_UID})
        for i in range(3)
    ]
    for node in nodes:
        pytest_plugin.pytest_configure_node(node)
    return config, nodes


def test_a_crashed_workers_labs_are_removed_and_only_those(pytester, host, capsys) -> None:
    config, (_, gw1, _) = controller_with_workers(pytester)
    pytest_plugin.pytest_testnodedown(gw1, error="worker 'gw1' crashed while running 't'")
    assert host.deleted == [f"lk-smoke-813ffb-{RUN}-gw1", f"lk-factory-1c2d3e-{RUN}-gw1-1"]
    assert f"removing lab 'lk-smoke-813ffb-{RUN}-gw1' (worker gw1 crashed)" in (
        capsys.readouterr().out
    )

    # The end-of-run sweep after that crash: this run's leftovers, no one else's.
    pytest_plugin.pytest_sessionfinish(SimpleNamespace(config=config))
    assert host.deleted[2:] == [f"lk-smoke-813ffb-{RUN}-gw0", f"lk-smoke-813ffb-{RUN}-gw10"]
    assert host.labs == [name for name in HOST_LABS if RUN not in name]


def test_prune_of_a_pytest_run_removes_its_labs_and_no_one_elses(host, capsys) -> None:
    main(["lab", "prune", "--pytest-run", RUN_UID])
    assert sorted(host.deleted) == sorted(n for n in HOST_LABS if f"-{RUN}-" in n)
    assert host.labs == [name for name in HOST_LABS if f"-{RUN}-" not in name]
    assert f"removed {len(host.deleted)} labs of that pytest run" in capsys.readouterr().out


def test_a_clean_exit_removes_nothing_and_needs_no_engine(pytester, host) -> None:
    config, nodes = controller_with_workers(pytester)
    for node in nodes:
        pytest_plugin.pytest_testnodedown(node, error=None)
    pytest_plugin.pytest_sessionfinish(SimpleNamespace(config=config))
    assert host.deleted == []
    assert host.clients == 0, "a run without a crash must not need Docker at its end"


def test_lab_keep_removes_nothing_after_a_crash(pytester, host) -> None:
    config, (_, gw1, _) = controller_with_workers(pytester, "--lab-keep")
    pytest_plugin.pytest_testnodedown(gw1, error="crashed")
    pytest_plugin.pytest_sessionfinish(SimpleNamespace(config=config))
    assert host.deleted == []
    assert host.labs == HOST_LABS


def test_an_unreachable_engine_is_reported_not_raised(pytester, monkeypatch, capsys) -> None:
    def no_engine() -> None:
        raise LabkitError("no Docker engine answers at unix:///var/run/docker.sock")

    monkeypatch.setattr(labkit.host, "docker_client", no_engine)
    _, (_, gw1, _) = controller_with_workers(pytester)
    pytest_plugin.pytest_testnodedown(gw1, error="crashed")
    out = capsys.readouterr().out
    assert f"could not look for labs of run {RUN} to remove (worker gw1 crashed)" in out
    assert "no Docker engine answers" in out


def test_xdist_workers_name_labs_with_one_run_id_and_their_own_worker(pytester, fake) -> None:
    pytester.makepyfile(
        test_f="""
        def test_a_lab(lab_factory):
            lab_factory(workers=0)
    """
    )
    # `each` runs the test on both workers, so both name a lab for the same node id.
    pytester.runpytest("-p", "xdist", "-n", "2", "--dist", "each").assert_outcomes(passed=2)
    ups = [e[1].split(":")[0] for e in events(fake) if e[0] == "up"]
    owners = {
        re.fullmatch(r"lk-f-[0-9a-f]{6}-([0-9a-f]{6})-(gw\d+)", name).groups() for name in ups
    }
    assert len({run for run, _ in owners}) == 1, ups
    assert {worker for _, worker in owners} == {"gw0", "gw1"}, ups
    assert sorted(e[1] for e in events(fake) if e[0] == "down") == sorted(ups)


def test_marker_shapes_the_module_lab_and_teardown_removes_it(pytester, fake) -> None:
    pytester.makepyfile(
        test_a="""
        import pytest
        pytestmark = pytest.mark.lab(workers=1, cni="none")
        def test_one(lab):
            assert lab.spec.workers == 1
        def test_two(lab):
            assert lab.spec.cni == "none"
    """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=2)
    kinds = [e[0] for e in events(fake)]
    assert kinds == ["up", "down"], "one lab for the module, removed after it"
    assert events(fake)[0][1].endswith(":1:none")


def test_lab_factory_removes_every_lab(pytester, fake) -> None:
    pytester.makepyfile(
        test_b="""
        def test_two_labs(lab_factory):
            first = lab_factory(workers=0)
            second = lab_factory(workers=2)
            assert first.name != second.name
    """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    assert [e[0] for e in events(fake)] == ["up", "up", "down", "down"]


def test_a_lab_that_fails_to_go_down_does_not_keep_the_others_up(pytester, fake) -> None:
    pytester.makepyfile(
        test_c2="""
        def test_two_labs(lab_factory):
            first = lab_factory(workers=0)
            lab_factory(workers=1)
            def broken_down():
                raise RuntimeError("engine went away")
            first.down = broken_down
    """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*RuntimeError: engine went away*"])
    assert [e[0] for e in events(fake)] == ["up", "up", "down"]


def test_keep_leaves_a_failed_lab_and_the_report_has_labkit_sections(pytester, fake) -> None:
    pytester.makepyfile(
        test_c="""
        def test_fails(lab):
            assert False
    """
    )
    result = pytester.runpytest("--lab-keep", "-rA")
    result.assert_outcomes(failed=1)
    assert [e[0] for e in events(fake)] == ["up"], "kept: no `down` after a failure"
    result.stdout.fnmatch_lines(
        ["*labkit diagnosis of lk-*", "*labkit logs of lk-*", "*keeping lab*"]
    )


def test_without_keep_a_failed_lab_is_removed(pytester, fake) -> None:
    pytester.makepyfile(
        test_d="""
        def test_fails(lab):
            assert False
    """
    )
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


@pytest.fixture
def no_docker(monkeypatch) -> list[str]:
    """Records any attempt to reach a Docker engine (and refuses it)."""
    import docker

    calls: list[str] = []

    def refuse(*args: Any, **kwargs: Any) -> None:
        calls.append("docker")
        raise AssertionError("a bad marker must fail before any Docker call")

    monkeypatch.setattr(docker.DockerClient, "__init__", refuse)
    monkeypatch.setattr(docker, "from_env", refuse)
    monkeypatch.setattr(labkit.host, "docker_client", refuse)
    # pytest's header lists the node images before collection (tests/test_version.py): a
    # read the marker check is not, so it is answered here without an engine.
    monkeypatch.setattr(labkit.version_report, "_node_images", lambda: (None, "not asked"))
    return calls


@pytest.mark.parametrize(
    ("marker", "says"),
    [
        ("wrkers=1", "*test_bad.py: wrkers: unknown field; expected one of*"),
        ('workers="two"', "*test_bad.py: workers: expected an integer*'two'*"),
        ("workers=99", "*test_bad.py: workers: 99 is out of range*"),
        ('cni="calico"', "*test_bad.py: cni: 'calico' is not supported*"),
        ('kubernetes_version="latest"', "*kubernetesVersion*'latest'*"),
    ],
)
def test_a_bad_marker_fails_collection_naming_the_field(
    pytester, fake, no_docker, marker: str, says: str
) -> None:
    pytester.makepyfile(
        test_bad=f"""
        import pytest
        pytestmark = pytest.mark.lab({marker})
        def test_one(lab):
            pass
    """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*ERROR collecting test_bad.py*", f"*lab marker of {says}"])
    assert events(fake) == [], "no lab brought up"
    assert no_docker == []


def test_a_bad_test_marker_names_the_test_and_stops_the_run(pytester, fake, no_docker) -> None:
    pytester.makepyfile(
        test_good="""
        def test_first(lab):
            pass
    """,
        test_bad="""
        import pytest
        @pytest.mark.parametrize("n", [1, 2])
        @pytest.mark.lab(workers="two")
        def test_bad(lab, n):
            pass
        @pytest.mark.lab(1)
        def test_positional():
            pass
    """,
        test_group="""
        import pytest
        class TestGroup:
            pytestmark = pytest.mark.lab(wrkers=1)
            def test_in_class(self):
                pass
    """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=2)
    # Once per marker, not once per parametrized item (the ERRORS section's lines; the
    # short summary repeats them, and under CI=true pytest does not truncate it).
    errors = [line for line in result.stdout.lines if line.startswith("lab marker of test_bad")]
    assert [line for line in errors if "got str 'two'" in line] == [
        "lab marker of test_bad.py::test_bad: workers: expected an integer, got str 'two'"
    ]
    result.stdout.fnmatch_lines_random(
        [
            "*lab marker of test_bad.py::test_bad: workers: expected an integer*",
            "*lab marker of test_bad.py::test_positional: takes spec fields by name only*",
            "*lab marker of test_group.py::TestGroup: wrkers: unknown field*",
        ]
    )
    assert events(fake) == [], "no test ran: not even the good module's lab came up"
    assert no_docker == []


def test_a_marker_is_checked_with_the_fixture_defaults_and_options(pytester, fake) -> None:
    pytester.makepyfile(
        test_nodes="""
        import pytest
        # Valid only because the fixture's lab has 2 workers unless told otherwise.
        pytestmark = pytest.mark.lab(nodes={"worker2": {"kubernetes_version": "v1.36.3"}})
        def test_one(lab):
            pass
    """
    )
    result = pytester.runpytest("--lab-image", "bad image")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*lab marker of test_nodes.py: image: 'bad image'*"])
    pytester.runpytest().assert_outcomes(passed=1)
