"""Pull failures in a lab with a registry: each real cause told apart, from containerd 2's
own messages (recorded from a v1.37.2 lab), with its fix; a stopped registry named as the
cause and no node blamed."""

from __future__ import annotations

from dataclasses import replace

import pytest
from diagnose_objects import LAB, WORKER, event, healthy_pods, pod, snapshot, status, waiting
from kubernetes import client as k8s

from labkit.diagnose import Diagnosis, LabSnapshot, diagnose_snapshot

REGISTRY = f"{LAB}-registry"
ADDRESS = "10.201.0.5"
IMAGE = "myapp:1"
NOT_FOUND = (
    'rpc error: code = NotFound desc = failed to pull and unpack image "docker.io/library/'
    'myapp:1": failed to resolve image: docker.io/library/myapp:1: not found'
)
UNREACHABLE = (
    'failed to pull and unpack image "docker.io/library/myapp:1": failed to resolve image: '
    'failed to do request: Head "http://{address}/v2/docker.io/library/myapp/manifests/1?'
    'ns=%5BREDACTED%5D": dial tcp {address}: connect: no route to host'
)
UNAUTHORIZED = (
    'failed to pull and unpack image "docker.io/library/myapp:1": failed to resolve image: '
    "unexpected status from HEAD request to http://10.201.0.5:5000/v2/docker.io/library/myapp"
    "/manifests/1: 401 Unauthorized"
)


def failing(message: str, image: str = IMAGE, **fields) -> LabSnapshot:
    state = waiting("ErrImagePull", message)
    container = k8s.V1Container(name="app", image=image, image_pull_policy="Always")
    broken = pod(
        "web-1",
        phase="Pending",
        statuses=[status("app", image, state, ready=False)],
        containers=[container],
    )
    events = [event("web-1", "Failed", f'Failed to pull image "{image}": {message}')]
    registry = {
        "registry": REGISTRY,
        "registry_status": "running",
        "registry_address": ADDRESS,
        "registry_port": 25001,
    }
    return snapshot(pods=[*healthy_pods(), broken], events=events, **(registry | fields))


def pull(snap: LabSnapshot) -> Diagnosis:
    found = [d for d in diagnose_snapshot(snap) if d.cause_id == "pod.image-pull"]
    assert len(found) == 1, found
    return found[0]


def test_an_image_nobody_pushed_says_push_it() -> None:
    fix = pull(failing(NOT_FOUND, registry_tags={IMAGE: ()})).fix
    assert "has no docker.io/library/myapp:1 (manifest unknown" in fix
    assert f"`labkit lab push {LAB} myapp:1`" in fix


def test_a_missing_tag_beside_others_lists_them() -> None:
    snap = failing(NOT_FOUND, image="myapp:3", registry_tags={"myapp:3": ("1", "2")})
    fix = pull(snap).fix
    assert "holds docker.io/library/myapp with tags 1, 2, but not 3" in fix


def test_a_mirror_entry_pointing_elsewhere_names_the_node_host_and_file() -> None:
    fix = pull(failing(UNREACHABLE.format(address="10.201.0.99:5000"))).fix
    assert f"node {WORKER} could not reach 10.201.0.99:5000 for docker.io" in fix
    assert "(connect: no route to host), which is not the lab's registry (10.201.0.5:5000)" in fix
    assert "/etc/containerd/certs.d/docker.io/hosts.toml" in fix


def test_a_registry_asking_for_credentials_says_image_pull_secrets() -> None:
    fix = pull(failing(UNAUTHORIZED)).fix
    assert "401 Unauthorized" in fix and "imagePullSecrets" in fix


def test_a_stopped_registry_is_the_cause_and_no_node_is_blamed() -> None:
    snap = failing(UNREACHABLE.format(address="10.201.0.5:5000"), registry_status="exited")
    found = {d.subject: d for d in diagnose_snapshot(snap)}
    stopped = found[f"container/{REGISTRY}"]
    assert stopped.cause_id == "registry.stopped"
    assert f"`labkit lab start {LAB}`" in stopped.fix
    assert f"a pod waits to pull {IMAGE}" in stopped.evidence
    assert f"registry {REGISTRY} is exited" in found["pod/default/web-1"].fix
    assert not [s for s in found if s.startswith("node/")]


@pytest.mark.parametrize("message", [NOT_FOUND, UNAUTHORIZED])
def test_without_a_registry_the_fix_is_side_loading(message: str) -> None:
    snap = replace(failing(message), registry=None, registry_status=None)
    assert f"labkit lab load-image {LAB} {IMAGE}" in pull(snap).fix
