"""labkit's pytest plugin: wires the library into options, a marker, fixtures and reports.

Everything here is also reachable without pytest (labkit.Lab, labkit.LabkitHost); the plugin
only decides lab names, lifetimes and what a failing test report carries.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from labkit.errors import LabkitError
from labkit.pytest_assertion import restore_message_format, show_results_as_text
from labkit.pytest_ownership import (
    RUN,
    lab_name,
    lab_owner,
    remove_labs,
    run_id_of,
)
from labkit.spec import LabSpec
from labkit.yamldata import camel

if TYPE_CHECKING:
    from kubernetes.client import ApiClient
    from xdist.workermanage import WorkerController

    from labkit.facade import Lab
    from labkit.labkit_host import LabkitHost
    from labkit.suites.shared import SharedSuiteRuns

MARKER = "lab(**spec): the lab a test or module needs, as lab spec fields (workers=2, cni='none')"
_FAILED = pytest.StashKey[bool]()
_CRASHED = pytest.StashKey[list[str]]()
# The `lab` fixture's lab when neither the marker nor `lab_spec` says how many workers.
FIXTURE_WORKERS = 2


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("labkit", "labkit: Kubernetes labs in Docker")
    group.addoption(
        "--lab-kubernetes-version",
        default=None,
        help="Kubernetes release of the labs (picks labkit/node:<version>)",
    )
    group.addoption("--lab-image", default=None, help="node image to use instead")
    group.addoption(
        "--lab-keep",
        action="store_true",
        default=None,
        help="keep a lab whose tests failed, for debugging (`labkit lab down` later)",
    )
    group.addoption(
        "--lab-logs-dir",
        default=None,
        metavar="DIR",
        help="where a failing scenario's lab logs go (default: <rootdir>/labkit-logs)",
    )
    group.addoption(
        "--lab-reuse",
        default=None,
        metavar="NAME",
        help="use the running lab NAME for the `lab` fixture instead of a new one",
    )
    parser.addini("lab_kubernetes_version", "default of --lab-kubernetes-version", default="")
    parser.addini("lab_keep", "default of --lab-keep", type="bool", default=False)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER)
    version = _option(config, "kubernetes_version")
    if version:
        from labkit.versions import KubernetesVersion

        try:
            KubernetesVersion.parse(version, field="--lab-kubernetes-version")
        except LabkitError as error:
            raise pytest.UsageError(str(error)) from None
    show_results_as_text(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    restore_message_format(config)


def pytest_report_header(config: pytest.Config) -> list[str]:
    """What `labkit --version` says; a Docker engine that does not answer is one line."""
    from labkit.version_report import version_report

    return version_report().lines()


def _option(config: pytest.Config, name: str) -> Any:
    value = config.getoption(f"lab_{name}")
    if value is None or value == "":
        value = config.getini(f"lab_{name}")
    return value


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    report = yield
    if report.failed:
        item.stash[_FAILED] = True
        module = item.getparent(pytest.Module)
        if module is not None:
            module.stash[_FAILED] = True
        if call.when == "call":
            for lab in _labs_of(item):
                report.sections.extend(_failure_sections(item.config, lab))
    return report


def _labs_of(item: pytest.Item) -> list[Lab]:
    from labkit.facade import Lab

    labs = []
    for value in getattr(item, "funcargs", {}).values():
        if isinstance(value, Lab):
            labs.append(value)
        elif isinstance(value, LabFactory):
            labs.extend(value.labs)
    return labs


def _failure_sections(config: pytest.Config, lab: Lab) -> list[tuple[str, str]]:
    """What a failing scenario's report carries: the diagnosis and where the logs are."""
    sections = []
    try:
        sections.append((f"labkit diagnosis of {lab.name}", str(lab.diagnose())))
    except Exception as error:
        sections.append((f"labkit diagnosis of {lab.name}", f"unavailable: {error}"))
    try:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        directory = lab.export_logs(_logs_root(config) / f"{lab.name}-{stamp}")
        sections.append((f"labkit logs of {lab.name}", f"exported to {directory}"))
    except Exception as error:
        sections.append((f"labkit logs of {lab.name}", f"export failed: {error}"))
    return sections


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    """A `lab` marker is a lab spec: a bad one fails its module's collection, naming the
    test and the field, rather than the lab fixture of whichever test comes first."""
    report = yield
    if not report.passed:
        return report
    nodes = [collector, *(node for node in report.result if isinstance(node, pytest.Item))]
    problems = marker_problems(collector.config, nodes)
    if problems:
        return pytest.CollectReport(collector.nodeid, "failed", "\n".join(problems), [])
    return report


def marker_problems(
    config: pytest.Config, nodes: list[pytest.Item | pytest.Collector]
) -> list[str]:
    """What is wrong with the `lab` markers set on these nodes (not inherited: each marker
    is checked where it is written, once)."""
    problems: list[str] = []
    seen: set[int] = set()
    for node in nodes:
        for mark in node.own_markers:
            # A parametrized test's items share the function's marker objects.
            if mark.name != "lab" or id(mark) in seen:
                continue
            seen.add(id(mark))
            where = f"lab marker of {_written_at(node)}"
            if mark.args:
                problems.append(f"{where}: takes spec fields by name only, e.g. workers=1")
                continue
            try:
                spec_from_marker(
                    {"workers": FIXTURE_WORKERS, **mark.kwargs},
                    name=lab_name(node.nodeid, lab_owner(config)),
                    config=config,
                    source=where,
                )
            except LabkitError as error:
                problems.append(str(error))
    return problems


def _written_at(node: pytest.Item | pytest.Collector) -> str:
    """The test a marker is written on: a parametrized test's, without the parameters."""
    if isinstance(node, pytest.Function) and node.parent is not None:
        return f"{node.parent.nodeid}::{node.originalname}"
    return node.nodeid


def spec_from_marker(
    kwargs: dict[str, Any], *, name: str, config: pytest.Config, source: str | None = None
) -> LabSpec:
    data = {camel(key): value for key, value in kwargs.items()}
    data.setdefault("name", name)
    if isinstance(data.get("nodes"), dict):
        # A marker cannot know the lab's name: it names nodes by role (`worker`, `worker2`).
        lab = data["name"]
        data["nodes"] = {
            key if key.startswith(f"{lab}-") else f"{lab}-{key}": {
                camel(field): value for field, value in (fields or {}).items()
            }
            for key, fields in data["nodes"].items()
        }
    version = _option(config, "kubernetes_version")
    if version:
        data.setdefault("kubernetesVersion", version)
    image = config.getoption("lab_image")
    if image:
        data.setdefault("image", image)
    return LabSpec.from_dict(data, source=source or f"lab marker of {name}")


class LabFactory:
    """Brings labs up for tests and guarantees their removal (unless kept after a failure)."""

    def __init__(
        self, config: pytest.Config, owner: pytest.Item | pytest.Collector, base_name: str
    ) -> None:
        self.config = config
        self.owner = owner
        self.base_name = base_name
        self.labs: list[Lab] = []

    def __call__(
        self,
        name: str | None = None,
        *,
        on_phase: Callable[[str, Any], None] | None = None,
        **spec: Any,
    ) -> Lab:
        from labkit.facade import Lab

        suffix = f"-{len(self.labs)}" if self.labs else ""
        lab_spec = spec_from_marker(spec, name=name or self.base_name + suffix, config=self.config)
        result = Lab.up(
            lab_spec, keep_on_failure=bool(_option(self.config, "keep")), on_phase=on_phase
        )
        self.labs.append(result.lab)
        return result.lab

    def teardown(self) -> None:
        failed = self.owner.stash.get(_FAILED, False)
        keep = bool(_option(self.config, "keep")) and failed
        errors: list[Exception] = []
        for lab in self.labs:
            if keep:
                print(
                    f"\nlabkit: keeping lab {lab.name!r} after a failure "
                    f"(kubeconfig {lab.kubeconfig}; remove with `labkit lab down {lab.name}`)"
                )
                continue
            try:
                lab.down()
            except Exception as error:  # the test's other labs still go; raised below
                errors.append(error)
        if errors:
            raise errors[0]


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: WorkerController) -> None:
    """xdist controller: learn the run id the workers will name their labs with."""
    node.config.stash[RUN] = run_id_of(node.workerinput["testrunuid"])


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: WorkerController, error: object | None) -> None:
    """xdist controller: a worker that crashed never ran its fixture teardowns, and xdist
    gives its replacement a new id, so nothing else would remove its labs."""
    if error is None or _option(node.config, "keep"):
        return
    worker = node.workerinput["workerid"]
    node.config.stash.setdefault(_CRASHED, []).append(worker)
    remove_labs(run_id_of(node.workerinput["testrunuid"]), worker, f"worker {worker} crashed")


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """xdist controller, once every worker is gone: after a crash, labs of this run still up
    (a container the engine finished creating after the kill, a replacement worker that
    died too) are leftovers. Without a crash every worker ran its own teardowns, and a run
    that never made a lab must not need a Docker engine to finish."""
    config = session.config
    crashed = config.stash.get(_CRASHED, [])
    if crashed and not _option(config, "keep"):
        remove_labs(
            config.stash[RUN], None, f"left over after the run; crashed: {', '.join(crashed)}"
        )


@pytest.fixture
def lab_factory(request: pytest.FixtureRequest) -> Iterator[LabFactory]:
    """Call it with lab spec fields to get a `Lab`; every lab is removed after the test."""
    factory = LabFactory(
        request.config, request.node, lab_name(request.node.nodeid, lab_owner(request.config))
    )
    yield factory
    factory.teardown()


@pytest.fixture(scope="module")
def lab_spec() -> dict[str, Any]:
    """Lab spec fields the `lab` fixture adds to the marker's; override it in a module for
    fields known only at run time (a path built by another fixture)."""
    return {}


@pytest.fixture(scope="module")
def lab_on_phase() -> Callable[[str, Any], None] | None:
    """Called after each `kubeadm init phase` of the module's lab (with `init="phases"`);
    override it in a module, e.g. with a `labkit.checks.lab_phases.PhaseRecorder`."""
    return None


@pytest.fixture(scope="module")
def lab(
    request: pytest.FixtureRequest,
    lab_spec: dict[str, Any],
    lab_on_phase: Callable[[str, Any], None] | None,
) -> Iterator[Lab]:
    """One lab per module, shaped by the module's `lab` marker and `lab_spec` fixture
    (default: 1 control plane + 2 workers)."""
    reuse = request.config.getoption("lab_reuse")
    if reuse:
        from labkit.facade import Lab
        from labkit.host import docker_client

        yield Lab.find(docker_client(), reuse)
        return
    marker = request.node.get_closest_marker("lab")
    spec = {**(marker.kwargs if marker else {}), **lab_spec}
    spec.setdefault("workers", FIXTURE_WORKERS)
    factory = LabFactory(
        request.config, request.node, lab_name(request.node.nodeid, lab_owner(request.config))
    )
    try:
        yield factory(on_phase=lab_on_phase, **spec)
    finally:
        factory.teardown()


@pytest.fixture(scope="session")
def labkit_host() -> LabkitHost:
    """The Docker host's side of labkit (a `labkit.labkit_host.LabkitHost`): `doctor()`,
    `labs()`, `prune_pytest_run(uid)`, `build_image(version)`, as the CLI's host commands."""
    from labkit.labkit_host import LabkitHost

    return LabkitHost()


@pytest.fixture(scope="module")
def lab_api(lab: Lab) -> ApiClient:
    """A kubernetes ApiClient for the module's lab (its own, not the global config)."""
    return lab.api_client()


@pytest.fixture(scope="module")
def lab_conformance(lab: Lab, request: pytest.FixtureRequest) -> SharedSuiteRuns:
    """`lab_conformance("kubeadm")` runs kubeadm's e2e suite (or `"conformance"`, with
    focus/skip/parallel) on the module's lab once; the module's tests share the result (a
    `labkit.suites.report.SuiteResult`). Reports go under --lab-logs-dir/suites."""
    from labkit.suites.shared import SharedSuiteRuns

    return SharedSuiteRuns(lab, report_root=_logs_root(request.config) / "suites")


@pytest.fixture(scope="module")
def lab_host(lab: Lab) -> Callable[[str], Any]:
    """`lab_host("worker")` gives a testinfra host for that node, for users' own checks."""
    import testinfra

    def host(node: str) -> Any:
        return testinfra.get_host(f"docker://{lab.node(node).container.name}")

    return host


def _logs_root(config: pytest.Config) -> Path:
    return Path(config.getoption("lab_logs_dir") or config.rootpath / "labkit-logs")
