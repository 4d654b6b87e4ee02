"""The pod network: installing a CNI after the fact, and waiting for the lab to heal.

Waits on the API end on a watch event, as `labkit.lab.waits` does.

>>> install_cni(lab)  # flannel, with the lab's pod subnet; then every node Ready
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from kubernetes import client as k8s

from labkit.constants import READY_TIMEOUT
from labkit.lab import waits
from labkit.lab.cni import apply_cni_manifest
from labkit.lab.model import LabModel


def install_cni(lab: LabModel, timeout: float = READY_TIMEOUT) -> None:
    """Apply the node image's flannel manifest with the lab's pod subnet, as `lab up` does
    for `cni: flannel`, then wait until every node is Ready and CoreDNS runs. Applying it
    again is harmless."""
    apply_cni_manifest(lab.control_plane, lab.state.spec().networking.pod_subnet)
    wait_until_healthy(lab, timeout)


def wait_until_healthy(lab: LabModel, timeout: float = READY_TIMEOUT) -> None:
    """What `lab up` waits for with a CNI (every node Ready, the control plane, CoreDNS
    and kube-proxy); TimeoutError naming the first condition not met otherwise."""
    spec = lab.state.spec()
    with contextlib.closing(lab.api_client()) as api:
        checks = waits.readiness_checks(
            api, [n.name for n in lab.nodes], control_planes=spec.control_planes
        )
        unmet = waits.first_unmet(checks, timeout)
    if unmet:
        raise TimeoutError(f"lab {lab.name}: {unmet}: not reached within {timeout:.0f}s")


def wait_for_ready_condition(
    api: k8s.ApiClient, node: str, wanted: Callable[[k8s.V1NodeCondition], bool], timeout: float
) -> k8s.V1NodeCondition | None:
    """The node's Ready condition once `wanted` holds for it, or None after `timeout`."""
    seen: list[k8s.V1NodeCondition] = []

    def satisfied(nodes: list[k8s.V1Node]) -> bool:
        ready = next(
            (c for n in nodes for c in n.status.conditions or [] if c.type == "Ready"), None
        )
        if ready is not None and wanted(ready):
            seen.append(ready)
            return True
        return False

    core = k8s.CoreV1Api(api)
    found = waits.wait_until(
        core.list_node, satisfied, timeout, field_selector=f"metadata.name={node}"
    )
    return seen[-1] if found else None
