"""Each static pod manifest rule fails alone when its invariant is broken."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from breakage import NodeCase, assert_only_rule_fails, run_node_case
from kubeadm_like_pki import NodeFiles, Pki

MANIFESTS = "/etc/kubernetes/manifests"


def path(component: str) -> str:
    return f"{MANIFESTS}/{component}.yaml"


def edit_pod(
    component: str, change: Callable[[dict[str, Any]], None]
) -> Callable[[NodeFiles], None]:
    def mutate(files: NodeFiles) -> None:
        pod = files.yaml(path(component))
        change(pod)
        files.put_yaml(path(component), pod)

    return mutate


def drop_flag(component: str, flag: str) -> Callable[[NodeFiles], None]:
    def change(pod: dict[str, Any]) -> None:
        command = pod["spec"]["containers"][0]["command"]
        command[:] = [part for part in command if not part.startswith(f"{flag}=")]

    return edit_pod(component, change)


def container(component: str, **fields: Any) -> Callable[[NodeFiles], None]:
    return edit_pod(component, lambda pod: pod["spec"]["containers"][0].update(fields))


def spec(component: str, **fields: Any) -> Callable[[NodeFiles], None]:
    return edit_pod(component, lambda pod: pod["spec"].update(fields))


def _probe_path(pod: dict[str, Any]) -> None:
    pod["spec"]["containers"][0]["livenessProbe"]["httpGet"]["path"] = "/healthz"


CASES = [
    NodeCase("manifests.set", "scheduler manifest missing",
             lambda f: f.remove(path("kube-scheduler")), path("kube-scheduler"), "no such file"),
    NodeCase("manifests.set", "static pod on a worker",
             lambda f: f.put(path("etcd"), "kind: Pod\n", 0o600), path("etcd"),
             "no static pods on a worker", role="worker"),
    NodeCase("manifests.set", "not a Pod", lambda f: f.put(path("etcd"), "kind: Deployment\n"),
             path("etcd"), "unparseable"),
    NodeCase("manifests.metadata", "tier label changed",
             edit_pod("kube-apiserver", lambda p: p["metadata"]["labels"].update(tier="master")),
             path("kube-apiserver"), "tier=control-plane"),
    NodeCase("manifests.host-network", "etcd off the host network",
             spec("etcd", hostNetwork=False), path("etcd"), "hostNetwork: true"),
    NodeCase("manifests.priority", "no priority class",
             edit_pod("kube-controller-manager", lambda p: p["spec"].pop("priorityClassName")),
             path("kube-controller-manager"), "priorityClassName system-node-critical"),
    NodeCase("manifests.seccomp", "unconfined",
             spec("kube-scheduler", securityContext={"seccompProfile": {"type": "Unconfined"}}),
             path("kube-scheduler"), "seccompProfile.type RuntimeDefault"),
    NodeCase("manifests.image", "wrong image",
             container("kube-apiserver", image="registry.k8s.io/kube-apiserver:v1.34.3"),
             path("kube-apiserver"), "image registry.k8s.io/kube-apiserver:v1.34.4"),
    NodeCase("manifests.pull-policy", "Always", container("etcd", imagePullPolicy="Always"),
             path("etcd"), "imagePullPolicy IfNotPresent"),
    NodeCase("manifests.flags", "no authorization mode",
             drop_flag("kube-apiserver", "--authorization-mode"), path("kube-apiserver"),
             "--authorization-mode=Node,RBAC"),
    NodeCase("manifests.flags", "controllers without credentials",
             lambda f: f.edit(path("kube-controller-manager"),
                              "--use-service-account-credentials=true",
                              "--use-service-account-credentials=false"),
             path("kube-controller-manager"), "--use-service-account-credentials=true"),
    NodeCase("manifests.flags", "etcd without client certificate auth",
             drop_flag("etcd", "--client-cert-auth"), path("etcd"), "--client-cert-auth=true"),
    NodeCase("manifests.flags", "scheduler bound to all addresses",
             lambda f: f.edit(path("kube-scheduler"), "--bind-address=127.0.0.1",
                              "--bind-address=0.0.0.0"),
             path("kube-scheduler"), "--bind-address=127.0.0.1"),
    NodeCase("manifests.extra-args", "extra arg not applied", lambda f: None,
             path("kube-apiserver"), "--audit-log-maxage=30 (extraArgs)",
             context={"apiserver_extra_args": (("audit-log-maxage", "30"),)}),
    NodeCase("manifests.probes", "liveness on the wrong path",
             edit_pod("kube-scheduler", _probe_path), path("kube-scheduler"),
             "livenessProbe httpGet HTTPS 127.0.0.1 /livez probe-port"),
    NodeCase("manifests.probes", "probe port moved",
             container("kube-controller-manager",
                       ports=[{"containerPort": 10258, "name": "probe-port"}]),
             path("kube-controller-manager"), "containerPort probe-port 10257"),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_broken_manifest_fails_only_its_rule(case: NodeCase, pki: Pki) -> None:
    assert_only_rule_fails(run_node_case(case, pki), case)


def test_etcd_of_a_joined_control_plane_joins_the_existing_members_until_an_upgrade() -> None:
    """kubeadm join writes `--initial-cluster-state=existing` and the members it found;
    kubeadm upgrade writes every member's manifest as a first member's (etcd reads the
    initial cluster only when its data dir is empty)."""
    from kubeadm_like import control_plane_context

    from labkit.checks.component_flags import etcd_flags

    node, address = "lab-control-plane2", "10.201.0.3"
    first = etcd_flags(control_plane_context())
    second = {"node": node, "advertise_address": address, "first_control_plane": False}
    joined = etcd_flags(control_plane_context(**second))
    upgraded = etcd_flags(control_plane_context(**second, etcd_upgraded=True))
    assert first["initial-cluster"].startswith("lab-control-plane=https://")
    assert "initial-cluster-state" not in first
    assert joined["initial-cluster-state"] == "existing" and "initial-cluster" not in joined
    assert "initial-cluster-state" not in upgraded
    assert upgraded["initial-cluster"] == f"{node}=https://{address}:2380"


def test_an_etcd_backup_of_kubeadm_upgrade_marks_the_node_upgraded() -> None:
    import io
    import tarfile

    from labkit.checks.artifacts import NodeArtifacts

    def archive(*directories: str) -> bytes:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            for directory in directories:
                entry = tarfile.TarInfo(directory)
                entry.type = tarfile.DIRTYPE
                tar.addfile(entry)
        return buffer.getvalue()

    tmp = "etc/kubernetes/tmp"
    upgraded = archive(f"{tmp}/", f"{tmp}/kubeadm-backup-etcd-2026-12-02-10-17-46/")
    only_manifests = archive(f"{tmp}/", f"{tmp}/kubeadm-backup-manifests-2026-12-02-10-17-46/")
    assert NodeArtifacts.from_tar("n", "control-plane", upgraded).etcd_upgraded
    assert not NodeArtifacts.from_tar("n", "control-plane", only_manifests).etcd_upgraded
