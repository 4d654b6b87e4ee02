"""What the control plane looked like after each `kubeadm init phase`, kept to check later.

`PhaseRecorder` is an `on_phase` callback for `Lab.up(spec, on_phase=...)` with
`init: phases`: after every phase it reads the control plane's files (one `tar`) and, once
the API serves kubeadm's admin, the cluster's objects. It only records; the caller checks
the states afterwards, so a broken phase is reported by a test, not by a failed bring-up.

    phases = PhaseRecorder()
    lab = Lab.up(LabSpec.from_dict({"init": "phases"}), on_phase=phases).lab
    check_node(phases["certs"].artifacts, context, rules=rules_of("pki"))
"""

from __future__ import annotations

from dataclasses import dataclass

from kubernetes import client as k8s
from kubernetes import config as k8s_config

from labkit.checks import ClusterSnapshot, NodeArtifacts, Rule, all_rules, fetch_cluster_snapshot
from labkit.checks.lab_context import read_node
from labkit.constants import ADMIN_CONF, SIGNATURE_TIMEOUT
from labkit.errors import LabkitError
from labkit.lab import waits
from labkit.lab.node import Node
from labkit.lab.state import host_kubeconfig

# admin.conf's group is bound to cluster-admin by init's first API client, which the
# upload-config phase creates: from there on a snapshot can be read with admin.conf.
API_PHASES = ("upload-config", "mark-control-plane", "bootstrap-token", "kubelet-finalize", "addon")
# The bootstrap-signer controller signs cluster-info a moment after the bootstrap-token phase.


def rules_of(*artifacts: str, ids: tuple[str, ...] = ()) -> tuple[Rule, ...]:
    """The rules of these artifact kinds (`pki`, `kubeconfig`, `manifest`, ...) plus `ids`."""
    return tuple(r for r in all_rules() if r.artifact in artifacts or r.id in ids)


@dataclass(frozen=True)
class PhaseState:
    phase: str
    artifacts: NodeArtifacts
    # The cluster's objects, from the first phase whose end admin.conf may read them.
    snapshot: ClusterSnapshot | None


def node_api_client(node: Node, artifacts: NodeArtifacts) -> k8s.ApiClient:
    """A client of the node's API server as kubeadm's admin, through the published port."""
    entry = artifacts.get(ADMIN_CONF)
    if entry is None:
        raise LabkitError(f"{node.name} has no {ADMIN_CONF} yet: no phase has written it")
    admin = host_kubeconfig(entry.data, node.published_api_port())
    return k8s_config.new_client_from_config_dict(admin)


def _signed(config_maps: list[k8s.V1ConfigMap]) -> bool:
    return any(
        cm.metadata.name == "cluster-info"
        and any(key.startswith("jws-kubeconfig-") for key in cm.data or {})
        for cm in config_maps
    )


class PhaseRecorder:
    """Records a `PhaseState` after every phase; index it by kubeadm's phase name."""

    def __init__(self, *, signature_timeout: float = SIGNATURE_TIMEOUT) -> None:
        self.signature_timeout = signature_timeout
        self.states: dict[str, PhaseState] = {}

    def __call__(self, phase: str, node: Node) -> None:
        artifacts = read_node(node)
        snapshot = None
        if phase in API_PHASES:
            api = node_api_client(node, artifacts)
            if phase == "bootstrap-token":
                # After the timeout the state is kept unsigned: cluster-info-jws reports it.
                waits.wait_until(
                    k8s.CoreV1Api(api).list_namespaced_config_map,
                    _signed,
                    self.signature_timeout,
                    namespace="kube-public",
                )
            snapshot = fetch_cluster_snapshot(api)
        self.states[phase] = PhaseState(phase, artifacts, snapshot)

    @property
    def phases(self) -> list[str]:
        return list(self.states)

    def __getitem__(self, phase: str) -> PhaseState:
        if phase not in self.states:
            raise KeyError(
                f"no state recorded after phase {phase!r} (recorded: "
                f"{', '.join(self.states) or 'none'})"
            )
        return self.states[phase]
