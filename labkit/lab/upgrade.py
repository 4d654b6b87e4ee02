"""`labkit lab upgrade`: a running lab to the next release, the way kubeadm documents it.

check -> target material (its node image, built if missing) -> images on every node ->
first control plane: new kubeadm, `kubeadm upgrade plan`, `kubeadm upgrade apply` ->
each node in turn: `kubeadm upgrade node` (not the first), drain, new kubelet and kubectl,
restart, Ready at the new version, uncordon -> every node and the control plane at the new
version. Everything that can refuse the upgrade does so before anything changes; a failure
names the step and node with kubeadm's output and the node's journals, and leaves the lab
as it is (`lab status` says which nodes were upgraded).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from kubernetes import client as k8s

from labkit import host
from labkit.constants import (
    DRAIN_TIMEOUT,
    KUBEADM_CONFIG,
    KUBEADM_UPGRADE_CONFIG,
    READY_TIMEOUT,
    UPGRADE_HEALTH_TIMEOUT,
)
from labkit.errors import LabkitError, StepFailed
from labkit.kubeadm.config import KUBEADM_API_VERSION, preflight_errors_to_skip
from labkit.lab import waits
from labkit.lab.evidence import cluster_evidence, node_evidence
from labkit.lab.model import LabModel
from labkit.lab.node import Node
from labkit.lab.node_limits import kubeadm_patches_directory
from labkit.lab.release import release_material
from labkit.lab.upgrade_commands import kubectl, run_kubeadm
from labkit.lab.upgrade_context import Upgrade
from labkit.pipeline import LabRunResult, Progress, Step, StepTiming, required, run_steps
from labkit.versions import KubernetesVersion


def check_upgrade(up: Upgrade) -> None:
    """Refuse, before anything changes, what kubeadm does not support or the lab cannot do;
    take up where an earlier run to the same target stopped."""
    up.current = cluster_version(up.api)
    unfinished = unfinished_upgrade(up.lab, up.current, up.target)
    if unfinished:
        up.current = KubernetesVersion.parse(unfinished["from"], field="the upgrade record")
        up.upgraded = list(unfinished["upgraded"])
        up.resuming = True
        up.progress.say(f"   resuming: {', '.join(unfinished['pending'])} still to upgrade")
    refusal = None if unfinished else upgrade_refusal(up.current, up.target)
    if refusal:
        raise LabkitError(f"lab {up.lab.name!r}: {refusal}")
    checks = waits.readiness_checks(up.api, [n.name for n in up.lab.nodes], cni=up.cni)
    unmet = waits.first_unmet(checks, UPGRADE_HEALTH_TIMEOUT)
    if unmet:
        raise LabkitError(
            f"lab {up.lab.name!r} is not healthy ({unmet}: not met within "
            f"{UPGRADE_HEALTH_TIMEOUT:.0f}s); upgrade a healthy lab "
            f"(`labkit diagnose {up.lab.name}` says what is wrong)"
        )
    up.progress.say(f"   {up.current} -> {up.target}, {len(up.lab.nodes)} nodes healthy")


def unfinished_upgrade(
    lab: LabModel, current: KubernetesVersion, target: KubernetesVersion
) -> dict | None:
    """The record of an earlier upgrade to `target` that applied it (the cluster runs it)
    but left nodes pending, or None."""
    record = lab.state.upgrade_record()
    if current != target or record is None:
        return None
    return record if record.get("to") == str(target) and record.get("pending") else None


def upgrade_refusal(current: KubernetesVersion, target: KubernetesVersion) -> str | None:
    """Why kubeadm would not take a cluster from `current` to `target`, or None."""
    if target < current:
        return f"{target} is older than the cluster's {current}: kubeadm does not downgrade"
    if target == current:
        return f"the cluster already runs {current}"
    if target.minor > current.minor + 1:
        return (
            f"{current} to {target} skips a minor: kubeadm upgrades one minor at a time "
            f"(go to v1.{current.minor + 1}.x first)"
        )
    return None


def cluster_version(api: k8s.ApiClient) -> KubernetesVersion:
    """The release kubeadm recorded in the kubeadm-config ConfigMap."""
    config_map = k8s.CoreV1Api(api).read_namespaced_config_map("kubeadm-config", "kube-system")
    cluster = yaml.safe_load((config_map.data or {}).get("ClusterConfiguration", "")) or {}
    return KubernetesVersion.parse(
        str(cluster.get("kubernetesVersion", "")), field="kubeadm-config kubernetesVersion"
    )


def prepare_material(up: Upgrade) -> None:
    try:
        up.material = release_material(up.client, up.target, up.progress)
    except StepFailed as failure:
        raise LabkitError(
            f"the node image of {up.target} cannot be built, so nothing was changed: {failure}"
        ) from None
    up.progress.say(f"   {len(up.material.images)} images and kubeadm, kubelet, kubectl")


def load_target_images(up: Upgrade) -> None:
    required(up.material).load_images(up.client, up.lab.nodes, up.progress)


def upgrade_first_control_plane(up: Upgrade) -> None:
    node = up.lab.control_plane
    if up.resuming:
        up.progress.say(f"   {node.name}: kubeadm upgrade apply {up.target} was done before")
        return
    # From here on a failure leaves nodes behind: `lab status` and a rerun read this.
    up.record()
    material = required(up.material)
    material.install(node, ("kubeadm",))
    write_upgrade_configuration(node, up.target)
    plan = run_kubeadm(up, node, ["upgrade", "plan", "--config", KUBEADM_UPGRADE_CONFIG])
    up.progress.detail(plan)
    run_kubeadm(up, node, ["upgrade", "apply", "--config", KUBEADM_UPGRADE_CONFIG, "--yes"])
    for control_plane in up.lab.control_planes:
        record_release_in_node_config(control_plane, up.target)
    up.progress.say(f"   {node.name}: kubeadm upgrade apply {up.target} done")


def record_release_in_node_config(node: Node, target: KubernetesVersion) -> None:
    """labkit's copy of the kubeadm config it gave the node names the release the cluster
    runs now: `labkit check` asks the node's kubeadm for that release's expectations."""
    documents = list(yaml.safe_load_all(node.read_file(KUBEADM_CONFIG)))
    for document in documents:
        if isinstance(document, dict) and document.get("kind") == "ClusterConfiguration":
            document["kubernetesVersion"] = str(target)
    rendered = yaml.safe_dump_all(documents, sort_keys=False).encode()
    node.write_file(KUBEADM_CONFIG, rendered, 0o600)


def upgrade_kubelets(up: Upgrade) -> None:
    """One node at a time, the first control plane first (its kubeadm already applied)."""
    first = up.lab.control_plane
    for node in [first, *(n for n in up.lab.nodes if n is not first)]:
        if node.name in up.upgraded:
            continue
        if node is not first:
            required(up.material).install(node, ("kubeadm",))
            write_upgrade_configuration(node, up.target)
            run_kubeadm(
                up,
                node,
                ["upgrade", "node", "--config", KUBEADM_UPGRADE_CONFIG],
                again_while_api_restarts=True,
            )
        upgrade_kubelet(up, node)
        up.upgraded.append(node.name)
        up.record()
        up.progress.say(f"   {node.name}: kubelet {up.target}, Ready, uncordoned")


def upgrade_kubelet(up: Upgrade, node: Node) -> None:
    control_plane = up.lab.control_plane
    kubectl(up, control_plane, "drain", node.name, "--ignore-daemonsets",
            "--delete-emptydir-data", f"--timeout={DRAIN_TIMEOUT:.0f}s")  # fmt: skip
    node.exec(["systemctl", "stop", "kubelet"])
    required(up.material).install(node, ("kubelet", "kubectl"))
    node.exec(["systemctl", "daemon-reload"])
    node.exec(["systemctl", "start", "kubelet"])
    if not node_at(up.api, node.name, up.target, READY_TIMEOUT, ready=up.cni):
        raise StepFailed(
            operation="restart the kubelet",
            node=node.name,
            reason=f"not Ready at kubelet {up.target} within {READY_TIMEOUT:.0f}s",
            evidence={**cluster_evidence(up.api), **node_evidence(node)},
        )
    if node.is_control_plane:
        wait_for_control_plane(up, node)
    kubectl(up, control_plane, "uncordon", node.name)


def wait_for_control_plane(up: Upgrade, node: Node) -> None:
    """A new kubelet restarts the static pods; the next node's drain needs the API server
    back and its authorizer synced (right after a restart it answers 403 for a while).
    Only the control planes upgraded so far run the target: the others wait their turn."""
    done = {n.name for n in up.lab.control_planes} & {*up.upgraded, node.name}
    if not waits.control_plane_at(up.api, str(up.target), len(done), READY_TIMEOUT):
        raise StepFailed(
            operation="wait for the control plane after its kubelet's restart",
            reason=f"the control plane's pods were not Ready within {READY_TIMEOUT:.0f}s",
            evidence=cluster_evidence(up.api),
        )


def wait_until_upgraded(up: Upgrade) -> None:
    names = [n.name for n in up.lab.nodes]
    checks = [
        *waits.readiness_checks(
            up.api, names, control_planes=len(up.lab.control_planes), cni=up.cni
        ),
        (
            f"control plane runs the {up.target} images",
            lambda t: waits.control_plane_at(up.api, str(up.target), len(up.lab.control_planes), t),
        ),
    ]
    waits.ready_or_fail(checks, up.api, up.lab.nodes, up.progress.say)


def node_at(
    api: k8s.ApiClient, name: str, version: KubernetesVersion, timeout: float, *, ready: bool
) -> bool:
    """The node's kubelet reports `version`, and the node is Ready (when `ready`: without a
    CNI no node is)."""
    return waits.wait_until(
        k8s.CoreV1Api(api).list_node,
        lambda nodes: any(
            (waits.is_ready(n) or not ready) and n.status.node_info.kubelet_version == str(version)
            for n in nodes
        ),
        timeout,
        field_selector=f"metadata.name={name}",
    )


def write_upgrade_configuration(node: Node, target: KubernetesVersion) -> None:
    config = upgrade_configuration(target, patches_directory=kubeadm_patches_directory(node))
    node.write_file(KUBEADM_UPGRADE_CONFIG, config.encode(), 0o600)


def upgrade_configuration(
    target: KubernetesVersion, *, patches_directory: str | None = None
) -> str:
    """kubeadm's v1beta4 UpgradeConfiguration for plan, apply and node. apply and node write
    the kubelet's config.yaml anew from the cluster's, applying the patches of
    `patches_directory` (cmd/kubeadm/app/cmd/phases/upgrade/kubeletconfig.go): the node's
    own, which keep a limited node's kubelet reservation (`labkit.lab.node_limits`)."""
    ignored = list(preflight_errors_to_skip(target, host_cgroup_v1=host.cgroup_mode() != "v2"))
    common: dict[str, object] = {"ignorePreflightErrors": ignored} if ignored else {}
    # kubeadm's plan and apply refuse a pre-release target unless told it is meant.
    pre_release: dict[str, object] = {}
    if target.pre_release.startswith("rc."):
        pre_release["allowRCUpgrades"] = True
    elif target.pre_release:
        pre_release["allowExperimentalUpgrades"] = True
    patches = {"patches": {"directory": patches_directory}} if patches_directory else {}
    document = {
        "apiVersion": KUBEADM_API_VERSION,
        "kind": "UpgradeConfiguration",
        "plan": {"kubernetesVersion": str(target), **common, **pre_release},
        "apply": {
            "kubernetesVersion": str(target),
            "certificateRenewal": True,
            "etcdUpgrade": True,
            **common,
            **pre_release,
            **patches,
        },
        "node": {"certificateRenewal": True, "etcdUpgrade": True, **common, **patches},
    }
    return yaml.safe_dump(document, sort_keys=False)


UPGRADE_STEPS: list[Step[Upgrade]] = [
    Step("check the lab and the target", check_upgrade),
    Step("prepare the target's material", prepare_material),
    Step("load the target's images", load_target_images),
    Step("upgrade the first control plane", upgrade_first_control_plane),
    Step("upgrade kubelets node by node", upgrade_kubelets),
    Step("wait until upgraded", wait_until_upgraded),
]


@dataclass(frozen=True, repr=False)
class UpgradeResult(LabRunResult):
    """A lab upgraded (a failed upgrade raises); `str()` is what `labkit lab upgrade` prints
    at its end."""

    lab: LabModel
    current: KubernetesVersion
    target: KubernetesVersion
    timings: list[StepTiming]

    def __str__(self) -> str:
        return (
            f"lab {self.lab.name!r} upgraded from {self.current} to {self.target} in "
            f"{self.total_seconds:.1f}s"
        )

    def _fields(self) -> dict[str, Any]:
        return {"from": str(self.current), "to": str(self.target)}

    def _headline(self) -> str:
        return f"{self.lab.name!r}: {self.current} -> {self.target}"


def upgrade_lab(
    lab: LabModel, target: KubernetesVersion, *, progress: Progress | None = None
) -> UpgradeResult:
    progress = progress or Progress()
    up = Upgrade(lab=lab, target=target, progress=progress, api=lab.api_client())
    progress.say(f"upgrading lab {lab.name!r} to Kubernetes {target}")
    timings = run_steps(UPGRADE_STEPS, up, progress)
    lab.state.record_release(str(target))
    up.record(timings={t.name: round(t.seconds, 2) for t in timings})
    return UpgradeResult(lab, required(up.current), target, timings)
