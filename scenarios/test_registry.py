"""The lab's registry, as a user and a troubleshooter meet it, on one 1 + 1 lab.

A pushed image runs with `imagePullPolicy: Always`, by its own name and as
`localhost:<port>/...`; the component images are in the registry from the start; and the
pull failures are real ones, each with its symptom, what `diagnose` names, the fix and the
recovery: an image nobody pushed, a tag that does not exist beside one that does, the
registry stopped, one node's mirror entry wrong. Each leaves the lab healthy.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import yaml
from kubernetes import client as k8s

from labkit.lab import waits
from labkit.lab.registry import CERTS_DIR, REGISTRY_HOSTING_CONFIGMAP
from labkit.nodeimage.registry_image import REGISTRY_PORT, published_port
from labkit.versions import TOOLBOX_IMAGE

pytestmark = pytest.mark.lab(workers=1)

RUN_TIMEOUT = 120.0
# A run's own repository: parallel runs on one Docker host never share a tag.
APP = f"labkit-scenario/app-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def app_image(lab) -> Iterator[str]:
    """An image only the host's Docker has: the toolbox, tagged anew."""
    lab.client.images.get(TOOLBOX_IMAGE).tag(APP, "1")
    yield f"{APP}:1"
    lab.client.images.remove(f"{APP}:1", noprune=True)


@pytest.fixture(scope="module")
def pushed(lab, app_image) -> str:
    result = lab.push(app_image, say=lambda _: None)
    assert result.ok, result
    return app_image


def pod(name: str, image: str, node: str | None = None) -> k8s.V1Pod:
    return k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(name=name, labels={"app": name}),
        spec=k8s.V1PodSpec(
            node_name=node,
            termination_grace_period_seconds=0,
            containers=[
                k8s.V1Container(
                    name="main",
                    image=image,
                    image_pull_policy="Always",
                    command=["sleep", "3600"],
                )
            ],
        ),
    )


@pytest.fixture
def run_pod(lab_api) -> Iterator:
    core = k8s.CoreV1Api(lab_api)
    made: list[str] = []

    def run(name: str, image: str, node: str | None = None) -> None:
        core.create_namespaced_pod("default", pod(name, image, node))
        made.append(name)

    yield run
    for name in made:
        core.delete_namespaced_pod(name, "default", grace_period_seconds=0)
    waits.wait_until(
        core.list_namespaced_pod,
        lambda pods: not any(p.metadata.name in made for p in pods),
        RUN_TIMEOUT,
        namespace="default",
    )


def running(lab_api, name: str, timeout: float = RUN_TIMEOUT) -> bool:
    return waits.wait_until(
        k8s.CoreV1Api(lab_api).list_namespaced_pod,
        lambda pods: any(p.metadata.name == name and p.status.phase == "Running" for p in pods),
        timeout,
        namespace="default",
    )


def waiting_reason(lab_api, name: str, reason: str, timeout: float = RUN_TIMEOUT) -> bool:
    def reached(pods: list[k8s.V1Pod]) -> bool:
        for found in pods:
            for status in found.status.container_statuses or []:
                waiting = status.state.waiting if status.state else None
                if found.metadata.name == name and waiting and waiting.reason == reason:
                    return True
        return False

    return waits.wait_until(
        k8s.CoreV1Api(lab_api).list_namespaced_pod, reached, timeout, namespace="default"
    )


def pull_diagnosis(lab, name: str):
    found = {d.subject: d for d in lab.diagnose().diagnoses}
    return found.get(f"pod/default/{name}"), found


def test_a_pushed_image_runs_with_pull_always_by_both_names(lab, lab_api, pushed, run_pod):
    port = published_port(lab.registry.container)
    run_pod("own-name", pushed, lab.workers[0].name)
    run_pod("localhost-name", f"localhost:{port}/{APP}:1", lab.workers[0].name)
    assert running(lab_api, "own-name") and running(lab_api, "localhost-name")


def test_the_release_images_are_in_the_registry_from_the_start(lab, lab_api, run_pod):
    run_pod("toolbox", TOOLBOX_IMAGE, lab.control_plane.name)
    assert running(lab_api, "toolbox")


def test_the_cluster_advertises_the_registry(lab, lab_api) -> None:
    config = k8s.CoreV1Api(lab_api).read_namespaced_config_map(
        REGISTRY_HOSTING_CONFIGMAP, "kube-public"
    )
    hosting = yaml.safe_load(config.data["localRegistryHosting.v1"])
    assert hosting["host"] == f"localhost:{published_port(lab.registry.container)}"
    assert hosting["hostFromContainerRuntime"] == f"{lab.registry.lab_address()}:{REGISTRY_PORT}"


def test_an_image_nobody_pushed_is_named_and_runs_once_pushed(lab, lab_api, run_pod):
    absent = f"{APP}-late:1"
    run_pod("late", absent, lab.workers[0].name)
    assert waiting_reason(lab_api, "late", "ImagePullBackOff")
    diagnosis, _ = pull_diagnosis(lab, "late")
    assert diagnosis is not None and diagnosis.cause_id == "pod.image-pull"
    assert absent in diagnosis.summary
    assert "has no docker.io/" in diagnosis.fix and f"labkit lab push {lab.name} {absent}" in (
        diagnosis.fix
    )
    lab.client.images.get(TOOLBOX_IMAGE).tag(f"{APP}-late", "1")
    try:
        lab.push(absent, say=lambda _: None)
    finally:
        lab.client.images.remove(absent, noprune=True)
    assert running(lab_api, "late", timeout=RUN_TIMEOUT + 300)  # the kubelet's back-off


def test_a_tag_that_does_not_exist_beside_one_that_does(lab, lab_api, pushed, run_pod):
    run_pod("wrong-tag", f"{APP}:2", lab.workers[0].name)
    assert waiting_reason(lab_api, "wrong-tag", "ErrImagePull") or waiting_reason(
        lab_api, "wrong-tag", "ImagePullBackOff"
    )
    diagnosis, _ = pull_diagnosis(lab, "wrong-tag")
    assert diagnosis is not None
    assert f"holds docker.io/{APP} with tags 1, but not 2" in diagnosis.fix


def test_a_stopped_registry_is_named_not_the_nodes(lab, lab_api, pushed, run_pod):
    lab.registry.container.stop(timeout=5)
    try:
        run_pod("no-registry", pushed, lab.workers[0].name)
        assert waiting_reason(lab_api, "no-registry", "ErrImagePull") or waiting_reason(
            lab_api, "no-registry", "ImagePullBackOff"
        )
        diagnosis, found = pull_diagnosis(lab, "no-registry")
        registry = found[f"container/{lab.registry.name}"]
        assert registry.cause_id == "registry.stopped"
        assert f"labkit lab start {lab.name}" in registry.fix
        assert diagnosis is not None and "is exited" in diagnosis.fix
        assert not [s for s in found if s.startswith("node/")], found
    finally:
        started = lab.start()
    assert started.ok, started
    assert running(lab_api, "no-registry", timeout=RUN_TIMEOUT + 300)


def test_one_nodes_wrong_mirror_entry_names_the_node_and_host(lab, lab_api, pushed, run_pod):
    worker = lab.workers[0]
    path = f"{CERTS_DIR}/docker.io/hosts.toml"
    good = worker.read_file(path)
    # The registry's own address at a port it does not serve: refused at once.
    worker.write_file(path, good.replace(b":5000/", b":5999/"))
    try:
        run_pod("bad-mirror", pushed, worker.name)
        assert waiting_reason(lab_api, "bad-mirror", "ErrImagePull") or waiting_reason(
            lab_api, "bad-mirror", "ImagePullBackOff"
        )
        diagnosis, _ = pull_diagnosis(lab, "bad-mirror")
        assert diagnosis is not None
        assert f"node {worker.name} could not reach" in diagnosis.fix
        assert "its mirror entry for docker.io is wrong" in diagnosis.fix
        check = lab.check()
        wrong = [f for f in check.failures if f.rule_id == "registry.mirrors"]
        assert [(f.node, f.path) for f in wrong] == [(worker.name, path)], check
    finally:
        worker.write_file(path, good)
    assert running(lab_api, "bad-mirror", timeout=RUN_TIMEOUT + 300)
    assert lab.check().ok
