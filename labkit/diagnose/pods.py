"""Why a pod does not run: its image, its container crashing or misconfigured, or no node
the scheduler could place it on (scheduling has its own module)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from kubernetes import client as k8s

from labkit.diagnose.rules import RuleSet
from labkit.diagnose.snapshot import (
    Diagnosis,
    LabSnapshot,
    container_spec,
    container_statuses,
    describe_event,
    is_failing,
    pod_subject,
)
from labkit.errors import LabkitError
from labkit.lab import problems
from labkit.lab.registry import CERTS_DIR
from labkit.nodeimage.registry_image import REGISTRY_PORT, split_reference

RULES = RuleSet("pods")

IMAGE_PULL_REASONS = ("ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull")
# Waiting reasons that are a normal step of starting a pod, not a problem.
STARTING_REASONS = ("ContainerCreating", "PodInitializing")
# Exit codes with a usual meaning; the container's logs say the rest.
EXIT_CODE_HINTS = {
    1: "the program failed on its own",
    126: "the command is not executable",
    127: "the command was not found in the image",
    137: "it was killed (SIGKILL): out of memory, or a failing liveness probe",
    139: "it crashed (segmentation fault)",
    143: "it was stopped (SIGTERM)",
}


def kubectl(snapshot: LabSnapshot, command: str) -> str:
    return f"`kubectl --kubeconfig $(labkit lab kubeconfig {snapshot.lab}) {command}`"


def _failing_containers(
    snapshot: LabSnapshot, reasons: tuple[str, ...]
) -> Iterator[tuple[k8s.V1Pod, k8s.V1ContainerStatus, k8s.V1ContainerStateWaiting]]:
    for pod in snapshot.pods:
        if not is_failing(pod):
            continue
        for status in container_statuses(pod):
            waiting = status.state.waiting if status.state else None
            if waiting is not None and waiting.reason in reasons:
                yield pod, status, waiting


def _waiting(status: k8s.V1ContainerStatus, waiting: k8s.V1ContainerStateWaiting) -> str:
    return f"container {status.name}: waiting: {waiting.reason}: {(waiting.message or '').strip()}"


def pull_policy(container: k8s.V1Container | None, image: str) -> str:
    """The policy the API server defaulted, or would: Always for `:latest` or no tag."""
    if container is not None and container.image_pull_policy:
        return container.image_pull_policy
    name = image.split("@", 1)[0].rsplit("/", 1)[-1]
    tag = name.split(":", 1)[1] if ":" in name else "latest"
    return "IfNotPresent" if "@" in image or tag != "latest" else "Always"


def images_failing_to_pull(snapshot: LabSnapshot) -> set[str]:
    """The images pods wait to pull, as their specs name them."""
    images = set()
    for pod, status, _ in _failing_containers(snapshot, IMAGE_PULL_REASONS):
        spec = container_spec(pod, status.name)
        images.add(spec.image if spec is not None and spec.image else status.image)
    return images


@RULES.rule()
def image_pull(snapshot: LabSnapshot) -> Iterator[Diagnosis]:
    """One diagnosis per pod: its containers often share the image (flannel's two do), and
    one load fixes them all."""
    failing: dict[str, list[tuple[k8s.V1ContainerStatus, k8s.V1ContainerStateWaiting]]] = {}
    pods: dict[str, k8s.V1Pod] = {}
    for pod, status, waiting in _failing_containers(snapshot, IMAGE_PULL_REASONS):
        pods[pod_subject(pod)] = pod
        failing.setdefault(pod_subject(pod), []).append((status, waiting))
    for subject, containers in failing.items():
        yield _image_pull(snapshot, pods[subject], containers)


def _image_pull(
    snapshot: LabSnapshot,
    pod: k8s.V1Pod,
    containers: list[tuple[k8s.V1ContainerStatus, k8s.V1ContainerStateWaiting]],
) -> Diagnosis:
    policies: dict[str, str] = {}
    for status, _ in containers:
        spec = container_spec(pod, status.name)
        image = spec.image if spec is not None and spec.image else status.image
        policies.setdefault(image, pull_policy(spec, image))
    node = pod.spec.node_name if pod.spec else None
    events = [
        e
        for e in snapshot.events_about("Pod", pod.metadata.namespace, pod.metadata.name)
        if (e.message or "").startswith("Failed to pull image")
    ]
    said = [*((w.message or "") for _, w in containers), *((e.message or "") for e in events)]
    if snapshot.registry is None:
        fix = _side_load_fix(snapshot, policies, node)
    else:
        fix = "; ".join(_registry_fix(snapshot, image, node, said) for image in policies)
    images = ", ".join(policies)
    return Diagnosis(
        "pod.image-pull",
        f"pod {pod.metadata.name} cannot pull image{'s' * (len(policies) > 1)} "
        f"{images} on node {node or '-'}",
        pod_subject(pod),
        (
            *(_waiting(status, waiting) for status, waiting in containers),
            *(f"imagePullPolicy of {image}: {policy}" for image, policy in policies.items()),
            *(describe_event(e) for e in events[-2:]),
        ),
        fix,
    )


def _side_load_fix(snapshot: LabSnapshot, policies: dict[str, str], node: str | None) -> str:
    """A lab without a registry (`registry: none`): images reach nodes by side-loading."""
    nodes = f" --nodes {node}" if node else ""
    loads = " and ".join(
        f"`labkit lab load-image {snapshot.lab} {image}{nodes}`" for image in policies
    )
    fix = (
        f"no registry is reachable from the lab's nodes: load the image from the host's "
        f"Docker with {loads} (pull or build it on the host first)"
    )
    always = [image for image, policy in policies.items() if policy == "Always"]
    if always:
        return fix + (
            f"; imagePullPolicy is Always for {', '.join(always)} (the default for "
            "`:latest` or no tag), so the kubelet pulls even when the node has the image: "
            "set `imagePullPolicy: IfNotPresent` or tag the image"
        )
    return fix + (
        f"; its imagePullPolicy {'/'.join(sorted(set(policies.values())))} then uses "
        "the loaded image"
    )


# containerd's words for a registry that wants credentials, and for one it cannot reach.
_UNAUTHORIZED = re.compile(r"401 Unauthorized|authorization failed|no basic auth credentials")
_UNREACHABLE = re.compile(
    r"dial tcp (?P<address>[\d.]+:\d+): (?P<why>[^\"]+)|"
    r"(?P<timeout>i/o timeout|context deadline exceeded)"
)


def _registry_fix(snapshot: LabSnapshot, image: str, node: str | None, said: list[str]) -> str:
    """Why the lab's registry did not give a node this image, and what to do: it is
    stopped; it wants credentials; the node's mirror entry sends the pull elsewhere; it
    lacks the tag (holding others) or the image."""
    lab, name = snapshot.lab, snapshot.registry
    served = f"{snapshot.registry_address}:{REGISTRY_PORT}"
    host, path, tag = _split(image)
    if snapshot.registry_status != "running":
        return (
            f"the lab's registry {name} is {snapshot.registry_status}, and every node pulls "
            f"through it: `labkit lab start {lab}` (or `docker start {name}`) starts it; "
            f"`docker logs {name}` shows how it ended"
        )
    if any(_UNAUTHORIZED.search(message) for message in said):
        return (
            f"the registry answered 401 Unauthorized for {image}: it asks for credentials "
            "and the pod gives none it accepts; create a Secret (`kubectl create secret "
            "docker-registry NAME --docker-server=" + host + " --docker-username=... "
            "--docker-password=...`) and name it in the pod's `imagePullSecrets`"
        )
    unreachable = next(filter(None, map(_UNREACHABLE.search, said)), None)
    if unreachable:
        elsewhere = unreachable["address"] and unreachable["address"] != served
        where = unreachable["address"] or "its mirror"
        return (
            f"node {node or '-'} could not reach {where} for {host} "
            f"({(unreachable['why'] or unreachable['timeout']).strip()})"
            + (f", which is not the lab's registry ({served})" if elsewhere else "")
            + f": its mirror entry for {host} is wrong; see it with "
            + problems.on_node(lab, node or "NODE", f"cat {CERTS_DIR}/{host}/hosts.toml")
            + f" and make its server `http://{served}/v2/{host}` with `override_path = "
            "true`, as on the other nodes (`labkit check` names every node whose entry differs)"
        )
    tags = snapshot.registry_tags.get(image)
    push = f"`labkit lab push {lab} {image}` (build or pull it on the host first)"
    if tags:
        return (
            f"the lab's registry holds {host}/{path} with tags {', '.join(tags)}, but not "
            f"{tag}: name one of those, or push this one with {push}"
        )
    return (
        f"the lab's registry has no {host}/{path}:{tag} (manifest unknown: nobody built or "
        f"pushed it): push it with {push}, or side-load it with `labkit lab load-image "
        f"{lab} {image}{' --nodes ' + node if node else ''}` and set "
        "`imagePullPolicy: IfNotPresent`"
    )


def _split(image: str) -> tuple[str, str, str]:
    try:
        return split_reference(image)
    except LabkitError:  # a digest: its repository is what matters here
        host, path, _ = split_reference(image.split("@", 1)[0])
        return host, path, image.split("@", 1)[1]


@RULES.rule()
def crash_loop(snapshot: LabSnapshot) -> Iterator[Diagnosis]:
    for pod, status, waiting in _failing_containers(snapshot, ("CrashLoopBackOff",)):
        last = status.last_state.terminated if status.last_state else None
        evidence = [_waiting(status, waiting), f"restarts: {status.restart_count}"]
        how = "it keeps exiting"
        if last is not None:
            evidence.append(
                f"last termination: {last.reason or '-'}, exit code {last.exit_code}"
                f"{', ' + last.message.strip() if last.message else ''}"
            )
            hint = (
                "out of memory"
                if last.reason == "OOMKilled"
                else EXIT_CODE_HINTS.get(last.exit_code, "")
            )
            how = f"it exited with code {last.exit_code}" + (f": {hint}" if hint else "")
        ns, name = pod.metadata.namespace, pod.metadata.name
        fix = (
            f"its previous run's logs say why: "
            f"{kubectl(snapshot, f'logs -n {ns} {name} -c {status.name} --previous')}"
        )
        if last is not None and last.reason == "OOMKilled":
            fix += "; raise its memory limit or lower its use"
        yield Diagnosis(
            "pod.crash-loop",
            f"container {status.name} of pod {name} is in CrashLoopBackOff: {how}",
            pod_subject(pod),
            tuple(evidence),
            fix,
        )


@dataclass(frozen=True)
class WaitingCause:
    reason: str
    cause_id: str
    why: str
    fix: str


# Waiting reasons that name their cause; the message carries the specifics.
WAITING_CAUSES = (
    WaitingCause(
        "CreateContainerConfigError",
        "pod.container-config",
        "a ConfigMap, Secret or key the container references does not exist",
        "create it in the pod's namespace, or fix the reference (the message names it)",
    ),
    WaitingCause(
        "CreateContainerError",
        "pod.create-container",
        "the runtime could not create the container",
        "read the message; often a volume path or a name already in use",
    ),
    WaitingCause(
        "InvalidImageName",
        "pod.invalid-image",
        "the image reference does not parse",
        "fix the `image:` of the container",
    ),
    WaitingCause(
        "RunContainerError",
        "pod.run-container",
        "the runtime could not start the container's process",
        "check the command, entrypoint and mounts against the image",
    ),
)


@RULES.rule()
def waiting_cause(snapshot: LabSnapshot) -> Iterator[Diagnosis]:
    by_reason = {c.reason: c for c in WAITING_CAUSES}
    for pod, status, waiting in _failing_containers(snapshot, tuple(by_reason)):
        cause = by_reason[waiting.reason]
        yield Diagnosis(
            cause.cause_id,
            f"container {status.name} of pod {pod.metadata.name} cannot start: {cause.why}",
            pod_subject(pod),
            (_waiting(status, waiting),),
            cause.fix,
        )


@dataclass(frozen=True)
class EventCause:
    reason: str
    cause_id: str
    why: str
    fix: str


# Events that explain a pod stuck before its containers run (or never Ready); only read
# for pods that are failing now, as a healthy lab keeps events of its bring-up.
EVENT_CAUSES = (
    EventCause(
        "FailedCreatePodSandBox",
        "pod.sandbox-failed",
        "the runtime could not create the pod's sandbox, usually its network (the CNI "
        "plugin failed on that node)",
        "read the CNI's error in the event; on the node: {journal}",
    ),
    EventCause(
        "FailedMount",
        "pod.mount-failed",
        "a volume could not be mounted (a missing ConfigMap, Secret or volume)",
        "create what the event names in the pod's namespace",
    ),
    EventCause(
        "Unhealthy",
        "pod.probe-failing",
        "a readiness or liveness probe fails",
        "check the probe's port and path against what the container serves, and its logs: {logs}",
    ),
)


@RULES.rule(fallback=True)
def event_cause(snapshot: LabSnapshot) -> Iterator[Diagnosis]:
    for pod in snapshot.pods:
        if not is_failing(pod):
            continue
        ns, name = pod.metadata.namespace, pod.metadata.name
        events = snapshot.events_about("Pod", ns, name)
        for cause in EVENT_CAUSES:
            matching = [e for e in events if e.reason == cause.reason]
            if not matching:
                continue
            node = (pod.spec.node_name if pod.spec else None) or "NODE"
            fix = cause.fix.format(
                journal=f"`labkit lab exec {snapshot.lab} {node} -- journalctl -u containerd "
                "-n 100`",
                logs=kubectl(snapshot, f"logs -n {ns} {name}"),
            )
            yield Diagnosis(
                cause.cause_id,
                f"pod {name}: {cause.why}",
                pod_subject(pod),
                tuple(describe_event(e) for e in matching[-2:]),
                fix,
            )
            break


def _stuck(pod: k8s.V1Pod) -> list[str]:
    states = []
    for status in container_statuses(pod):
        state = status.state
        if state and state.waiting and state.waiting.reason not in (None, *STARTING_REASONS):
            states.append(_waiting(status, state.waiting))
        elif state and state.terminated and state.terminated.exit_code != 0:
            states.append(
                f"container {status.name}: terminated: {state.terminated.reason}, "
                f"exit code {state.terminated.exit_code}"
            )
    if pod.status and pod.status.phase == "Failed":
        states.append(f"phase Failed: {pod.status.reason or ''} {pod.status.message or ''}")
    return states


@RULES.rule(fallback=True)
def not_running(snapshot: LabSnapshot) -> Iterator[Diagnosis]:
    for pod in snapshot.pods:
        states = _stuck(pod) if is_failing(pod) else []
        if states:
            ns, name = pod.metadata.namespace, pod.metadata.name
            yield Diagnosis(
                "pod.not-running",
                f"pod {name} is not running for a reason labkit does not recognise",
                pod_subject(pod),
                tuple(states),
                f"read {kubectl(snapshot, f'describe pod -n {ns} {name}')} and "
                f"{kubectl(snapshot, f'logs -n {ns} {name} --all-containers')}",
            )
