"""Following one pod through a symptom: its containers' waiting reasons and its events.

Waits on the API end on a watch event, as `labkit.lab.waits` does.

>>> pod, reasons = watch_waiting_reasons(api, "default", "app=probe", node="lab-worker",
...                                      skip=set(), until="ErrImageNeverPull", timeout=60)
>>> reasons["probe"]
['ContainerCreating', 'ErrImageNeverPull']
"""

from __future__ import annotations

from collections.abc import Callable

from kubernetes import client as k8s

from labkit.lab import waits


def watch_waiting_reasons(
    api: k8s.ApiClient,
    namespace: str,
    selector: str,
    *,
    node: str,
    skip: set[str],
    until: str,
    timeout: float,
    every_container: bool = False,
) -> tuple[k8s.V1Pod | None, dict[str, list[str]]]:
    """Follow the pod matching `selector` on `node` (not one of the uids in `skip`): each
    container's waiting reasons in the order the API reported them, until one of them (or,
    with `every_container`, each of them) has been `until` (or `timeout` passes). Returns
    the pod as last seen and the reasons. The kubelet reports a pod's status in batches, so
    a short-lived reason can be missed; the pod's events keep every step."""
    reasons: dict[str, list[str]] = {}
    latest: list[k8s.V1Pod] = []

    def satisfied(pods: list[k8s.V1Pod]) -> bool:
        for pod in pods:
            if pod.spec.node_name != node or pod.metadata.uid in skip:
                continue
            latest[:] = [pod]
            for status in [
                *(pod.status.init_container_statuses or []),
                *(pod.status.container_statuses or []),
            ]:
                waiting = status.state.waiting if status.state else None
                seen = reasons.setdefault(status.name, [])
                if waiting and waiting.reason and seen[-1:] != [waiting.reason]:
                    seen.append(waiting.reason)
        wanted = [until in seen for seen in reasons.values()]
        return bool(wanted) and (all(wanted) if every_container else any(wanted))

    core = k8s.CoreV1Api(api)
    waits.wait_until(
        core.list_namespaced_pod, satisfied, timeout, namespace=namespace, label_selector=selector
    )
    return (latest[0] if latest else None), reasons


def wait_for_events(
    api: k8s.ApiClient,
    namespace: str,
    pod: str,
    wanted: Callable[[list[k8s.CoreV1Event]], bool],
    timeout: float,
) -> list[k8s.CoreV1Event]:
    """The pod's events, oldest first, once `wanted` holds for them (or at `timeout`)."""
    core = k8s.CoreV1Api(api)
    selector = f"involvedObject.name={pod}"
    waits.wait_until(
        core.list_namespaced_event, wanted, timeout, namespace=namespace, field_selector=selector
    )
    events = core.list_namespaced_event(namespace, field_selector=selector).items
    return sorted(events, key=lambda e: str(e.first_timestamp or e.event_time or ""))
