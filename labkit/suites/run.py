"""A suite against a lab: the binaries of the lab's own release, its kubeconfig and
shape, and the namespaces the suite leaves when it is interrupted.

>>> run_suite(lab, SuiteRequest(suite="kubeadm")).ok  # doctest: +SKIP
True
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import docker
from kubernetes import client as k8s

from labkit.naming import cache_dir, state_dir
from labkit.nodeimage.registry_image import published_port, stored_names, wait_until_answering
from labkit.nodeimage.registry_image import push as push_image
from labkit.parallel import parallel
from labkit.pipeline import Progress, heartbeat, required
from labkit.suites import ginkgo, images
from labkit.suites.binaries import GINKGO, SuiteBinaries, build_log_path
from labkit.suites.loading import load_images
from labkit.suites.report import SuiteResult
from labkit.suites.suites import LabShape, SuiteRequest
from labkit.versions import KubernetesVersion

if TYPE_CHECKING:
    from labkit.lab.model import LabModel


def run_suite(
    lab: LabModel, request: SuiteRequest, progress: Progress | None = None
) -> SuiteResult:
    """Build what the suite needs for the lab's release, then run it against the lab."""
    progress = progress or Progress(build_log_path())
    api = lab.api_client()
    version = lab_release(api)
    shape = LabShape(
        control_planes=len(lab.control_planes), nodes=len(lab.nodes), kubeconfig=lab.kubeconfig
    )
    report_dir = request.report_dir or default_report_dir(lab.name, request.suite)
    report_dir.mkdir(parents=True, exist_ok=True)
    progress.say(
        f"{request.suite} suite of Kubernetes {version} on lab {lab.name!r} "
        + (f"(log: {progress.log_path})" if progress.log_path else "")
    )
    binaries = SuiteBinaries(version, progress)
    binary = binaries.path(request.definition.program)
    suite_args = [f"--kubeconfig={lab.kubeconfig}"]
    if request.suite == "conformance":
        load_test_images(lab, binaries, binary, progress)
        suite_args += [f"--kubectl-path={binaries.kubectl()}", "--provider=skeleton"]
    invocation = ginkgo.SuiteInvocation(
        request=request,
        lab=shape,
        ginkgo=binaries.path(GINKGO),
        binary=binary,
        report_dir=report_dir,
        suite_args=tuple(suite_args),
    )
    before = e2e_namespaces(api)
    result = ginkgo.run(
        invocation, progress, on_interrupt=lambda: delete_new_namespaces(api, before, progress)
    )
    progress.detail(f"{request.suite} suite: {result.summary()}")
    return result


def load_test_images(
    lab: LabModel, binaries: SuiteBinaries, e2e_test: Path, progress: Progress
) -> list[str]:
    """Build the images e2e.test lists that labkit makes, and load them into every node in
    one archive (what a node has already is not loaded again)."""
    ready = build_test_images(lab.client, binaries, e2e_test, progress)
    registry = lab.registry
    if registry is not None:
        registry.container.reload()
    pushing = registry is not None and registry.container.status == "running"

    def side_load() -> None:
        load_images(lab.client, ready, lab.nodes, say=progress.detail)

    def push() -> None:
        # The specs that pull with `imagePullPolicy: Always` ask the registry, the rest
        # use the side-loaded images: both at once, so the slower one sets the time.
        port = published_port(required(registry).container)
        wait_until_answering(port, required(registry).name)
        started = time.monotonic()
        for reference in ready:
            push_image(lab.client, reference, f"127.0.0.1:{port}", stored_names(reference, port)[0])
        progress.detail(f"pushed {len(ready)} test images in {time.monotonic() - started:.1f}s")

    what = "loading the test images into the nodes" + (" and the registry" if pushing else "")
    with heartbeat(progress, what):
        parallel([side_load, *([push] if pushing else [])], lambda job: job())
    return ready


def build_test_images(
    client: docker.DockerClient, binaries: SuiteBinaries, e2e_test: Path, progress: Progress
) -> list[str]:
    """The images e2e.test lists that labkit makes, built or found up to date."""
    listed = images.list_images(e2e_test)
    build = images.E2EImageBuild(
        client=client,
        binaries=binaries,
        progress=progress,
        module_images=binaries.module_dir() / "test" / "images",
        work=cache_dir() / "test-images" / str(binaries.version),
    )
    with heartbeat(progress, "building the test images"):
        ready = build.build_all(listed)
    missing = [image.reference for image in listed if image.reference not in ready]
    progress.say(
        f"   {len(ready)} of {len(listed)} test images ready; not made here (specs that run "
        f"them fail): {', '.join(missing) or 'none'}"
    )
    return ready


def build_suites(
    client: docker.DockerClient,
    version: KubernetesVersion,
    suites: Sequence[str],
    progress: Progress | None = None,
) -> list[Path]:
    """What running `suites` on a lab of `version` would build first (ginkgo, each suite's
    binary, and for Conformance kubectl and the test images), built now or found cached:
    so that a run, or CI, builds before its labs rather than while one waits."""
    progress = progress or Progress(build_log_path())
    binaries = SuiteBinaries(version, progress)
    built = [binaries.path(GINKGO)]
    for name in suites:
        binary = binaries.path(SuiteRequest(suite=name).definition.program)
        built.append(binary)
        if name == "conformance":
            built.append(binaries.kubectl())
            build_test_images(client, binaries, binary, progress)
    return built


def lab_release(api: k8s.ApiClient) -> KubernetesVersion:
    """The release the API server runs (after an upgrade, not the node image's)."""
    git_version = k8s.VersionApi(api).get_code().git_version
    return KubernetesVersion.parse(git_version.split("+")[0], field="the API server's version")


def default_report_dir(lab: str, suite: str) -> Path:
    return state_dir() / "reports" / f"{lab}-{suite}-{time.strftime('%Y%m%d-%H%M%S')}"


def e2e_namespaces(api: k8s.ApiClient) -> set[str]:
    items = k8s.CoreV1Api(api).list_namespace(label_selector=ginkgo.E2E_RUN_LABEL).items
    return {ns.metadata.name for ns in items}


def delete_new_namespaces(api: k8s.ApiClient, before: set[str], progress: Progress) -> None:
    """The namespaces the interrupted run made and its cleanups did not delete."""
    core = k8s.CoreV1Api(api)
    for name in sorted(e2e_namespaces(api) - before):
        core.delete_namespace(name)
        progress.say(f"   deleted namespace {name}")
