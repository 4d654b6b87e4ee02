"""Breaking a lab on purpose and mending it: what the troubleshooting scenarios (and users
practising) do to reproduce a symptom, and the fixes they then apply.

One module per thing broken or looked at, as testinfra has one per resource: `network`
(the CNI and the lab's health), `images`, `pod_watch` (a pod's waiting reasons and events),
`kubelet` (how long a silent one is tolerated), `joins`, `preflight` and `api_access`.

>>> from labkit.troubleshooting import preflight, preflight_findings
"""

from __future__ import annotations

from labkit.troubleshooting.api_access import ApiAccess, ApiResponse, api_request
from labkit.troubleshooting.images import cri_image_id, image_names, remove_image
from labkit.troubleshooting.joins import (
    JOIN_CONFIG,
    join_token_in_use,
    kubeadm_join,
    unjoin,
)
from labkit.troubleshooting.kubelet import (
    CONTROLLER_MANAGER_MANIFEST,
    node_monitor_grace_period,
)
from labkit.troubleshooting.network import (
    install_cni,
    wait_for_ready_condition,
    wait_until_healthy,
)
from labkit.troubleshooting.pod_watch import wait_for_events, watch_waiting_reasons
from labkit.troubleshooting.preflight import (
    PREFLIGHT_LINE,
    port_taken,
    preflight,
    preflight_findings,
    sysctl_set,
)

__all__ = [
    "CONTROLLER_MANAGER_MANIFEST",
    "JOIN_CONFIG",
    "PREFLIGHT_LINE",
    "ApiAccess",
    "ApiResponse",
    "api_request",
    "cri_image_id",
    "image_names",
    "install_cni",
    "join_token_in_use",
    "kubeadm_join",
    "node_monitor_grace_period",
    "port_taken",
    "preflight",
    "preflight_findings",
    "remove_image",
    "sysctl_set",
    "unjoin",
    "wait_for_events",
    "wait_for_ready_condition",
    "wait_until_healthy",
    "watch_waiting_reasons",
]
