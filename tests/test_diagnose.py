"""Diagnosis rules on snapshots built from kubernetes-client objects: a healthy lab gives
no diagnosis, each broken state exactly its cause, with a fix naming the right command."""

from __future__ import annotations

import pytest
from diagnose_objects import (
    CP,
    CP_TAINT,
    LAB,
    NO_CNI_MESSAGE,
    NOT_READY_TAINT,
    WORKER,
    event,
    healthy_pods,
    node,
    pending,
    pod,
    snapshot,
    status,
    waiting,
)
from kubernetes import client as k8s

from labkit.diagnose import Diagnosis, LabSnapshot, RuntimeContainer, diagnose_snapshot
from labkit.diagnose.scheduling import tolerates
from labkit.diagnose.snapshot import kubelet_unit_state, suspect_nodes, tail


def causes(snap: LabSnapshot) -> dict[str, str]:
    """subject -> cause_id; fails when a subject gets two causes."""
    found = diagnose_snapshot(snap)
    by_subject = {d.subject: d.cause_id for d in found}
    assert len(by_subject) == len(found), found
    return by_subject


def only(snap: LabSnapshot, cause_id: str) -> Diagnosis:
    found = diagnose_snapshot(snap)
    assert [d.cause_id for d in found] == [cause_id], found
    return found[0]


def test_a_healthy_lab_has_no_diagnosis() -> None:
    old = event(
        "coredns-1",
        "FailedScheduling",
        "0/1 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }",
        "kube-system",
    )
    assert diagnose_snapshot(snapshot(events=[old])) == []
    assert suspect_nodes(snapshot()) == []


# --- nodes ---


def no_cni_lab(pods: list[k8s.V1Pod] | None = None) -> LabSnapshot:
    nodes = [
        node(CP, "False", "KubeletNotReady", NO_CNI_MESSAGE, [CP_TAINT, NOT_READY_TAINT]),
        node(WORKER, "False", "KubeletNotReady", NO_CNI_MESSAGE, [NOT_READY_TAINT]),
    ]
    coredns = pending(
        "coredns-1",
        "0/2 nodes are available: 2 node(s) had untolerated taint "
        "{node.kubernetes.io/not-ready: }. preemption: 0/2 nodes are available: "
        "2 Preemption is not helpful for scheduling.",
        "kube-system",
    )
    return snapshot(nodes, [coredns, *(pods or [])])


def test_no_cni_names_the_nodes_and_explains_the_pending_coredns() -> None:
    snap = no_cni_lab()
    assert causes(snap) == {
        f"node/{CP}": "node.no-cni",
        f"node/{WORKER}": "node.no-cni",
        "pod/kube-system/coredns-1": "pod.unschedulable",
    }
    found = diagnose_snapshot(snap)
    assert found[0].subject == f"node/{CP}"  # node causes come before pod symptoms
    assert "/kind/manifests/default-cni.yaml" in found[0].fix
    assert f"labkit lab exec {LAB} {CP}" in found[0].fix and "10.244.0.0/16" in found[0].fix
    assert any("node.kubernetes.io/not-ready" in line for line in found[0].evidence)
    assert "not Ready" in found[2].summary and "make the node Ready" in found[2].fix


def test_no_cni_from_the_journal_when_the_message_says_less() -> None:
    journal = (
        'kubelet.go:3015] "Container runtime network not ready" ... '
        "no networks found in /etc/cni/net.d"
    )
    snap = snapshot(
        [
            node(CP, taints=[CP_TAINT]),
            node(WORKER, "False", "KubeletNotReady", "runtime network not ready"),
        ],
        journals={WORKER: {"kubelet": journal}},
    )
    found = only(snap, "node.no-cni")
    assert found.subject == f"node/{WORKER}"
    assert any("no networks found" in line for line in found.evidence)


def test_no_cni_points_at_the_failing_cni_pod_when_one_is_installed() -> None:
    flannel = pod(
        "kube-flannel-ds-b",
        "kube-flannel",
        WORKER,
        statuses=[
            status("kube-flannel", state=waiting("CrashLoopBackOff"), ready=False, restarts=4)
        ],
    )
    snap = snapshot(
        [
            node(CP, taints=[CP_TAINT]),
            node(WORKER, "False", "KubeletNotReady", NO_CNI_MESSAGE, [NOT_READY_TAINT]),
        ],
        [flannel],
    )
    assert causes(snap) == {
        f"node/{WORKER}": "node.no-cni",
        "pod/kube-flannel/kube-flannel-ds-b": "pod.crash-loop",
    }
    assert "kube-flannel/kube-flannel-ds-b" in diagnose_snapshot(snap)[0].fix


def kubelet_stopped_node() -> k8s.V1Node:
    return node(
        WORKER,
        "Unknown",
        "NodeStatusUnknown",
        "Kubelet stopped posting node status.",
        [k8s.V1Taint(key="node.kubernetes.io/unreachable", effect="NoSchedule")],
    )


def test_kubelet_stopped_gives_systemctl_and_the_journal() -> None:
    journal = "\n".join(f"line {i}" for i in range(30)) + "\nkubelet.service: Deactivated"
    snap = snapshot(
        [node(CP, taints=[CP_TAINT]), kubelet_stopped_node()],
        journals={WORKER: {"kubelet": journal}},
    )
    found = only(snap, "node.kubelet-stopped")
    assert "systemctl status kubelet" in found.fix and "systemctl restart kubelet" in found.fix
    assert any("kubelet.service: Deactivated" in e and "line 0\n" not in e for e in found.evidence)


def test_a_stopped_node_container_is_the_cause_not_its_kubelet() -> None:
    snap = snapshot(
        [node(CP, taints=[CP_TAINT]), kubelet_stopped_node()],
        containers={CP: "running", WORKER: "exited"},
        consoles={WORKER: "Freezing execution."},
    )
    found = only(snap, "node.container-stopped")
    assert f"docker start {WORKER}" in found.fix
    assert any("Freezing execution." in e for e in found.evidence)
    assert suspect_nodes(snap) == []  # nothing to exec into


# As a labkit node's journal shows it when the kubelet rejects the host's cgroups.
KUBELET_EXITS = """\
demo-worker kubelet[986]: I1123 23:40:11.429673 986 server.go:842] "NoSwap is set"
demo-worker kubelet[986]: E1123 23:40:11.430349 986 run.go:72] "command failed" err="failed \
to run Kubelet: invalid configuration: cgroup [\\"kubelet\\"] has some missing paths: \
/sys/fs/cgroup/cpuacct/kubelet.slice"
demo-worker systemd[1]: kubelet.service: Main process exited, code=exited, status=1/FAILURE
"""


def test_a_kubelet_that_exits_at_start_is_named_once() -> None:
    snap = snapshot(
        [node(CP, taints=[CP_TAINT]), kubelet_stopped_node()],
        journals={WORKER: {"kubelet": KUBELET_EXITS}},
    )
    found = only(snap, "node.kubelet-failing")
    assert 'cgroup ["kubelet"] has some missing paths' in found.summary
    assert "/var/lib/kubelet/config.yaml" in found.fix and "systemctl status kubelet" in found.fix
    unregistered = snapshot(
        [node(CP, taints=[CP_TAINT])], journals={WORKER: {"kubelet": KUBELET_EXITS}}
    )
    assert only(unregistered, "node.kubelet-failing").subject == f"node/{WORKER}"


def test_disk_pressure_is_a_table_row() -> None:
    pressure = k8s.V1NodeCondition(
        type="DiskPressure", status="True", reason="KubeletHasDiskPressure", message="low on disk"
    )
    snap = snapshot([node(CP, taints=[CP_TAINT]), node(WORKER, conditions=[pressure])])
    assert "docker system df" in only(snap, "node.disk-pressure").fix


def test_a_running_node_container_without_a_node_object() -> None:
    snap = snapshot([node(CP, taints=[CP_TAINT])])
    found = only(snap, "node.not-registered")
    assert found.subject == f"node/{WORKER}" and "kubeadm join" in found.fix
    assert suspect_nodes(snap) == [WORKER]


def test_an_unknown_not_ready_reason_still_is_a_problem() -> None:
    snap = snapshot(
        [
            node(CP, taints=[CP_TAINT]),
            node(WORKER, "False", "KubeletNotReady", "PLEG is not healthy"),
        ]
    )
    assert "PLEG" in only(snap, "node.not-ready").evidence[0]


# --- pods ---


def pull_failure(
    image: str,
    reason: str = "ErrImagePull",
    policy: str | None = "IfNotPresent",
    init: bool = False,
) -> LabSnapshot:
    failed = status("app", image, waiting(reason, f'Back-off pulling image "{image}"'), ready=False)
    container = k8s.V1Container(name="app", image=image, image_pull_policy=policy)
    broken = pod(
        "web-1",
        phase="Pending",
        statuses=[] if init else [failed],
        init_statuses=[failed] if init else (),
        containers=[container] if not init else None,
    )
    events = [
        event("web-1", "Pulling", f'Pulling image "{image}"', kind="Normal"),
        event(
            "web-1",
            "Failed",
            f'Failed to pull image "{image}": rpc error: code = '
            "Unknown desc = dial tcp: lookup example.com: no such host",
        ),
        event("web-1", "Failed", "Error: ErrImagePull"),
    ]
    return snapshot(pods=[*healthy_pods(), broken], events=events)


def test_image_pull_failure_says_load_image_on_that_node() -> None:
    found = only(pull_failure("example.com/app:1.0"), "pod.image-pull")
    assert found.subject == "pod/default/web-1"
    assert f"labkit lab load-image {LAB} example.com/app:1.0 --nodes {WORKER}" in found.fix
    assert any(e.startswith("event Warning Failed: Failed to pull image") for e in found.evidence)
    assert "IfNotPresent then uses the loaded image" in found.fix


@pytest.mark.parametrize(
    ("image", "policy"),
    [
        ("example.com/app:latest", None),
        ("example.com/app", None),
        ("example.com/app:1.0", "Always"),
    ],
)
def test_image_pull_failure_warns_about_always(image: str, policy: str | None) -> None:
    found = only(pull_failure(image, "ImagePullBackOff", policy), "pod.image-pull")
    assert "imagePullPolicy is Always" in found.fix and "IfNotPresent" in found.fix


def test_image_pull_failure_of_an_init_container() -> None:
    found = only(pull_failure("example.com/init:2", init=True), "pod.image-pull")
    assert "example.com/init:2" in found.summary


def test_two_containers_of_one_image_are_one_diagnosis_with_both_as_evidence() -> None:
    # flannel's DaemonSet: kube-flannel and install-cni run the same image.
    image = "ghcr.io/flannel-io/flannel:v0.28.4"
    statuses = [
        status(name, image, waiting(reason, f'Back-off pulling image "{image}"'), ready=False)
        for name, reason in (("install-cni", "ImagePullBackOff"), ("kube-flannel", "ErrImagePull"))
    ]
    broken = pod("kube-flannel-ds-x", "kube-flannel", phase="Pending", statuses=statuses)
    found = only(snapshot(pods=[*healthy_pods(), broken]), "pod.image-pull")
    assert found.summary == f"pod kube-flannel-ds-x cannot pull image {image} on node {WORKER}"
    assert found.fix.count("labkit lab load-image") == 1
    assert [e.split(":")[0] for e in found.evidence[:2]] == [
        "container install-cni",
        "container kube-flannel",
    ]


def test_containers_of_two_images_get_a_load_for_each() -> None:
    statuses = [
        status(name, image, waiting("ErrImagePull"), ready=False)
        for name, image in (("app", "example.com/app:1.0"), ("sidecar", "example.com/proxy:2"))
    ]
    found = only(
        snapshot(pods=[*healthy_pods(), pod("web-2", phase="Pending", statuses=statuses)]),
        "pod.image-pull",
    )
    assert "images example.com/app:1.0, example.com/proxy:2" in found.summary
    for image in ("example.com/app:1.0", "example.com/proxy:2"):
        assert f"labkit lab load-image {LAB} {image} --nodes {WORKER}" in found.fix


def crash_looping(exit_code: int, reason: str, *, restarts: int, message: str = "") -> k8s.V1Pod:
    """Pod web-1 whose container app last exited with `exit_code` and now backs off."""
    last = k8s.V1ContainerState(
        terminated=k8s.V1ContainerStateTerminated(exit_code=exit_code, reason=reason)
    )
    backing_off = waiting("CrashLoopBackOff", message)
    return pod(
        "web-1",
        statuses=[status("app", state=backing_off, ready=False, restarts=restarts, last=last)],
    )


def test_crash_loop_gives_the_exit_and_logs_previous() -> None:
    broken = crash_looping(
        127, "Error", restarts=3, message="back-off 40s restarting failed container=app"
    )
    found = only(snapshot(pods=[broken]), "pod.crash-loop")
    assert "exit code 127" in " ".join(found.evidence)
    assert "not found" in found.summary
    assert f"$(labkit lab kubeconfig {LAB}) logs -n default web-1 -c app --previous" in found.fix


def test_crash_loop_out_of_memory() -> None:
    broken = crash_looping(137, "OOMKilled", restarts=2)
    assert "memory limit" in only(snapshot(pods=[broken]), "pod.crash-loop").fix


def test_pending_on_the_control_plane_taint() -> None:
    stuck = pending(
        "web-1",
        "0/1 nodes are available: 1 node(s) had untolerated taint "
        "{node-role.kubernetes.io/control-plane: }. preemption: 0/1 nodes are "
        "available: 1 Preemption is not helpful for scheduling.",
    )
    found = only(
        snapshot([node(CP, taints=[CP_TAINT])], [stuck], containers={CP: "running"}),
        "pod.unschedulable",
    )
    assert "kubeadm taints control-plane nodes" in found.summary
    assert "kubectl taint nodes --all node-role.kubernetes.io/control-plane-" in found.fix


def test_pending_on_resources_and_a_taint_explains_both() -> None:
    stuck = pending(
        "web-1",
        "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) had "
        "untolerated taint {node-role.kubernetes.io/control-plane: }.",
    )
    found = only(snapshot(pods=[stuck]), "pod.unschedulable")
    assert "allocatable cpu" in found.summary and "control-plane" in found.summary
    assert "lower the pod's requests" in found.fix


def test_pending_with_an_unnamed_taint_reads_the_nodes_taints() -> None:
    stuck = pending("web-1", "0/1 nodes are available: 1 node(s) had untolerated taint(s).")
    found = only(
        snapshot([node(CP, taints=[CP_TAINT])], [stuck], containers={CP: "running"}),
        "pod.unschedulable",
    )
    assert "node-role.kubernetes.io/control-plane" in found.summary


def test_pending_from_the_failed_scheduling_event_alone() -> None:
    stuck = pod("web-1", node_name=None, phase="Pending", statuses=[])
    events = [
        event(
            "web-1",
            "FailedScheduling",
            "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector.",
        )
    ]
    found = only(snapshot(pods=[stuck], events=events), "pod.unschedulable")
    assert "--show-labels" in found.fix


def test_missing_config_map_is_a_table_row() -> None:
    broken = pod(
        "web-1",
        phase="Pending",
        statuses=[
            status(
                state=waiting("CreateContainerConfigError", 'configmap "settings" not found'),
                ready=False,
            )
        ],
    )
    found = only(snapshot(pods=[broken]), "pod.container-config")
    assert 'configmap "settings" not found' in found.evidence[0]


def test_sandbox_failure_from_events() -> None:
    creating = pod(
        "web-1", phase="Pending", statuses=[status(state=waiting("ContainerCreating"), ready=False)]
    )
    events = [
        event(
            "web-1",
            "FailedCreatePodSandBox",
            "Failed to create pod sandbox: plugin "
            'type="flannel" failed (add): open /run/flannel/subnet.env: no such file',
        )
    ]
    found = only(snapshot(pods=[creating], events=events), "pod.sandbox-failed")
    assert f"labkit lab exec {LAB} {WORKER} -- journalctl -u containerd" in found.fix


def test_a_starting_pod_without_events_is_not_a_problem() -> None:
    creating = pod(
        "web-1", phase="Pending", statuses=[status(state=waiting("ContainerCreating"), ready=False)]
    )
    assert diagnose_snapshot(snapshot(pods=[creating])) == []


def test_an_unrecognised_failure_falls_back_to_describe() -> None:
    evicted = pod(
        "web-1",
        phase="Failed",
        statuses=[],
        reason="Evicted",
        message="The node was low on resource: ephemeral-storage.",
    )
    found = only(snapshot(pods=[evicted]), "pod.not-running")
    assert "ephemeral-storage" in found.evidence[-1]
    assert "describe pod -n default web-1" in found.fix


# --- the API ---


def rows(*specs: tuple[str, str, int]) -> tuple[RuntimeContainer, ...]:
    return tuple(
        RuntimeContainer(name, f"CONTAINER_{state}", attempt, f"{name[:4]}0123456789abcdef")
        for name, state, attempt in specs
    )


@pytest.mark.parametrize(
    ("fields", "summary", "fix"),
    [
        (
            {
                "control_plane_runtime": rows(
                    ("etcd", "RUNNING", 0),
                    ("kube-apiserver", "EXITED", 4),
                    ("kube-apiserver", "EXITED", 3),
                )
            },
            "kube-apiserver is not running",
            "crictl logs kube012345678`",
        ),
        (
            {"control_plane_runtime": rows(("etcd", "EXITED", 2), ("kube-apiserver", "EXITED", 5))},
            "etcd is not running",
            "crictl logs etcd012345678`",
        ),
        (
            {"control_plane_runtime": rows(("etcd", "RUNNING", 0))},
            "has not started kube-apiserver",
            "/etc/kubernetes/manifests/kube-apiserver.yaml",
        ),
        (
            {
                "control_plane_runtime": rows(
                    ("etcd", "RUNNING", 0), ("kube-apiserver", "RUNNING", 1)
                )
            },
            "etcd runs and kube-apiserver was restarted (attempt 1) and is not ready yet",
            f"docker port {CP} 6443",
        ),
        (
            {"control_plane_runtime": (), "journals": {CP: {"kubelet": KUBELET_EXITS}}},
            "the kubelet fails to start, so it never started etcd: failed to run",
            "systemctl status kubelet",
        ),
        (
            {"control_plane_runtime_error": "exit 1: connect: connection refused"},
            "does not answer `crictl ps`",
            "systemctl status containerd",
        ),
    ],
)
def test_api_unreachable_reads_the_control_plane(fields: dict, summary: str, fix: str) -> None:
    fields.setdefault("journals", {CP: {"kubelet": 'E0101 kubelet.go: node "x" not found'}})
    snap = snapshot([], [], api_error="MaxRetryError: [Errno 111] Connection refused", **fields)
    found = only(snap, "api.unreachable")
    assert found.subject == f"node/{CP}" and summary in found.summary and fix in found.fix
    assert "Connection refused" in found.evidence[0]
    assert any("kubelet (tail)" in e for e in found.evidence)
    assert suspect_nodes(snap) == [CP]


# --- several control planes ---

CP2, CP3, LB = f"{CP}2", f"{CP}3", f"{LAB}-load-balancer"
REFUSED = "MaxRetryError: [Errno 111] Connection refused"


def ha_lab(stopped: tuple[str, ...] = (), balancer: str = "running", **fields) -> LabSnapshot:
    containers = {name: "running" for name in (CP, CP2, CP3, WORKER)}
    containers.update({name: "exited" for name in stopped})
    return snapshot(
        [],
        [],
        containers=containers,
        control_planes=(CP, CP2, CP3),
        load_balancer=LB,
        load_balancer_status=balancer,
        **fields,
    )


def test_two_of_three_control_planes_stopped_is_etcds_quorum_lost() -> None:
    snap = ha_lab(stopped=(CP2, CP3), api_error=REFUSED)
    found = {d.cause_id: d for d in diagnose_snapshot(snap)}
    assert set(found) == {"etcd.quorum-lost", "node.container-stopped"}
    lost = found["etcd.quorum-lost"]
    assert "1 of its 3 members run and it needs 2" in lost.summary
    assert f"starts {CP2}, {CP3}" in lost.fix
    assert f"labkit lab start {LAB}" in lost.fix and f"docker start {CP2} {CP3}" in lost.fix
    assert causes(snap)[f"node/{CP2}"] == "node.container-stopped"


def test_one_of_three_stopped_keeps_the_quorum_and_names_only_the_node() -> None:
    snap = ha_lab(stopped=(CP,), api_error=REFUSED, journals={CP: {"kubelet": ""}})
    found = {d.cause_id for d in diagnose_snapshot(snap)}
    assert "etcd.quorum-lost" not in found and "node.container-stopped" in found


def test_a_stopped_load_balancer_is_named_rather_than_the_api_servers() -> None:
    snap = ha_lab(balancer="exited", api_error=REFUSED)
    found = only(snap, "api.load-balancer-stopped")
    assert found.subject == f"container/{LB}" and f"load balancer {LB} is exited" in found.summary
    assert f"labkit lab start {LAB}" in found.fix and f"docker start {LB}" in found.fix


def test_a_console_tail_has_no_terminal_control_sequences() -> None:
    console = (
        "\x1b[0;32m  OK  \x1b[0m] Stopped kubelet.\r\n"
        "\x1bM\r\n\x1b[K[\x1b[0;31m*     \x1b[0m] Job stop running (1s)\r"
        "[\x1b[0;1;31m*\x1b[0m] Job stop running (2s)\n"
    )
    assert tail(console) == "  OK  ] Stopped kubelet.\n[*] Job stop running (2s)"


# --- as real labs showed them (scenarios/test_troubleshooting_*.py) ---

# kube-scheduler 1.34's words for CoreDNS in a lab without a CNI.
UNNAMED_TAINTS = (
    "0/1 nodes are available: 1 node(s) had untolerated taint(s). no new claims "
    "to deallocate, preemption: 0/1 nodes are available: 1 Preemption is not "
    "helpful for scheduling."
)
# kubeadm's CoreDNS Deployment tolerates the control-plane taint.
COREDNS_TOLERATIONS = [
    k8s.V1Toleration(key="CriticalAddonsOnly", operator="Exists"),
    k8s.V1Toleration(key=CP_TAINT.key, effect="NoSchedule"),
]


def test_an_unnamed_taint_the_pod_tolerates_is_not_blamed() -> None:
    coredns = pending("coredns-1", UNNAMED_TAINTS, "kube-system")
    coredns.spec.tolerations = COREDNS_TOLERATIONS
    nodes = [node(CP, "False", "KubeletNotReady", NO_CNI_MESSAGE, [CP_TAINT, NOT_READY_TAINT])]
    snap = snapshot(nodes, [coredns], containers={CP: "running"})
    found = next(d for d in diagnose_snapshot(snap) if d.cause_id == "pod.unschedulable")
    assert "node.kubernetes.io/not-ready" in found.summary
    assert CP_TAINT.key not in found.summary and "kubectl taint" not in found.fix


@pytest.mark.parametrize(
    ("toleration", "tolerated"),
    [
        (k8s.V1Toleration(operator="Exists"), True),
        (k8s.V1Toleration(key=NOT_READY_TAINT.key, operator="Exists"), True),
        (k8s.V1Toleration(key=NOT_READY_TAINT.key, effect="NoExecute", operator="Exists"), False),
        (k8s.V1Toleration(key=NOT_READY_TAINT.key, value="yes"), False),
        (k8s.V1Toleration(key=CP_TAINT.key), False),
    ],
)
def test_tolerations_match_as_the_scheduler_matches_them(
    toleration: k8s.V1Toleration, tolerated: bool
) -> None:
    web = pending("web-1", UNNAMED_TAINTS)
    web.spec.tolerations = [toleration]
    assert tolerates(web, NOT_READY_TAINT) is tolerated


KUBELET_SKIPPED = (
    "Nov 24 00:14:38.807076 lab-control-plane systemd[1]: kubelet.service - kubelet: The "
    "Kubernetes Node Agent was skipped because of an unmet condition check "
    "(ConditionPathExists=/var/lib/kubelet/config.yaml)."
)
# `kubeadm reset` on a joined worker, as its journal shows it.
KUBELET_RESET = """\
lab-worker kubelet[2447]: I1124 00:13:35.813822 2447 kubelet_node_status.go:439] "Fast updating"
lab-worker systemd[1]: Stopping kubelet.service - kubelet: The Kubernetes Node Agent...
lab-worker systemd[1]: kubelet.service: Deactivated successfully.
lab-worker systemd[1]: Stopped kubelet.service - kubelet: The Kubernetes Node Agent.
"""


@pytest.mark.parametrize(
    ("journal", "state"),
    [
        (KUBELET_SKIPPED, "not configured"),
        (
            "x systemd[1]: Condition check resulted in kubelet: The Kubernetes Node Agent being "
            "skipped.",
            "not configured",
        ),
        (
            "Dec 07 13:21:05 lab-control-plane systemd[1]: kubelet.service - kubelet: The "
            "Kubernetes Node Agent skipped, unmet condition check "
            "ConditionPathExists=/var/lib/kubelet/config.yaml",
            "not configured",
        ),
        (KUBELET_RESET, "stopped"),
        (KUBELET_RESET + "lab-worker systemd[1]: Started kubelet.service - kubelet.\n", "started"),
        ('lab-worker kubelet[1]: E1124 "Error getting the current node from lister"', None),
    ],
)
def test_what_systemd_last_did_with_the_kubelet(journal: str, state: str | None) -> None:
    assert kubelet_unit_state(journal) == state


def test_a_control_plane_where_kubeadm_init_never_ran() -> None:
    snap = snapshot(
        [],
        [],
        api_error="lab 'lab' has no kubeconfig",
        control_plane_runtime=(),
        journals={CP: {"kubelet": KUBELET_SKIPPED}},
        containers={CP: "running"},
    )
    found = only(snap, "api.not-initialized")
    assert found.subject == f"node/{CP}" and "kubeadm init has not completed" in found.summary
    assert "kubeadm init phase preflight --config /etc/labkit/kubeadm.yaml" in found.fix
    assert any("ConditionPathExists" in line for line in found.evidence)


@pytest.mark.parametrize(
    ("journal", "state"), [(KUBELET_RESET, "stopped"), (KUBELET_SKIPPED, "not configured")]
)
def test_a_worker_whose_join_failed_with_no_token_left(journal: str, state: str) -> None:
    snap = snapshot(
        [node(CP, taints=[CP_TAINT])], journals={WORKER: {"kubelet": journal}}, join_tokens=()
    )
    found = only(snap, "node.not-registered")
    assert f"its kubelet is {state}" in found.summary
    assert "no usable bootstrap token" in found.summary
    assert f"labkit lab exec {LAB} {CP} -- kubeadm token create --print-join-command" in found.fix


def test_a_worker_whose_join_failed_with_tokens_names_kubeadms_discovery_errors() -> None:
    snap = snapshot(
        [node(CP, taints=[CP_TAINT])],
        journals={WORKER: {"kubelet": KUBELET_RESET}},
        join_tokens=("abcdef",),
    )
    found = only(snap, "node.not-registered")
    assert "`kubeadm join` has not completed" in found.summary and "token" not in found.summary
    assert "could not find a JWS signature" in found.fix and "are pinned" in found.fix
    assert "bootstrap tokens usable for joining: abcdef" in found.evidence


def test_a_kubelet_stopped_by_systemd_says_so() -> None:
    snap = snapshot(
        [node(CP, taints=[CP_TAINT]), kubelet_stopped_node()],
        journals={WORKER: {"kubelet": KUBELET_RESET}},
    )
    assert "systemd shows the kubelet stopped" in only(snap, "node.kubelet-stopped").summary
