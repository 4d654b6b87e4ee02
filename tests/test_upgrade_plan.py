"""What `labkit lab upgrade` refuses and what it asks kubeadm to do."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from labkit.errors import StepFailed
from labkit.kubeadm.config import preflight_errors_to_skip
from labkit.lab import upgrade, upgrade_commands
from labkit.lab.upgrade import upgrade_configuration, upgrade_refusal
from labkit.versions import KubernetesVersion


def v(text: str) -> KubernetesVersion:
    return KubernetesVersion.parse(text)


@pytest.mark.parametrize(
    ("current", "target", "reason"),
    [
        (
            "v1.37.2",
            "v1.36.3",
            "v1.36.3 is older than the cluster's v1.37.2: kubeadm does not downgrade",
        ),
        ("v1.36.3", "v1.36.1", "kubeadm does not downgrade"),
        ("v1.36.3", "v1.36.3", "the cluster already runs v1.36.3"),
        (
            "v1.35.4",
            "v1.37.2",
            "v1.35.4 to v1.37.2 skips a minor: kubeadm upgrades one minor at a time",
        ),
    ],
)
def test_refused_upgrades_say_why(current: str, target: str, reason: str) -> None:
    refusal = upgrade_refusal(v(current), v(target))
    assert refusal is not None and reason in refusal


@pytest.mark.parametrize(("current", "target"), [("v1.36.3", "v1.37.2"), ("v1.36.1", "v1.36.3")])
def test_next_minor_and_next_patch_are_accepted(current: str, target: str) -> None:
    assert upgrade_refusal(v(current), v(target)) is None


def test_upgrade_configuration_is_v1beta4_for_plan_apply_and_node(monkeypatch) -> None:
    monkeypatch.setattr(upgrade.host, "cgroup_mode", lambda: "hybrid")
    document = yaml.safe_load(upgrade_configuration(v("v1.37.2")))
    assert (document["apiVersion"], document["kind"]) == (
        "kubeadm.k8s.io/v1beta4",
        "UpgradeConfiguration",
    )
    assert document["plan"]["kubernetesVersion"] == "v1.37.2"
    assert document["apply"]["kubernetesVersion"] == "v1.37.2"
    assert document["apply"]["certificateRenewal"] is True
    assert document["apply"]["etcdUpgrade"] is True
    for section in ("plan", "apply", "node"):
        assert document[section]["ignorePreflightErrors"] == ["SystemVerification"]


@pytest.mark.parametrize(
    ("target", "allowed"),
    [
        ("v1.38.0-beta.0", {"allowExperimentalUpgrades": True}),
        ("v1.37.2-rc.1", {"allowRCUpgrades": True}),
        ("v1.37.2", {}),
    ],
)
def test_a_pre_release_target_is_allowed_in_plan_and_apply_only(
    monkeypatch, target: str, allowed: dict[str, bool]
) -> None:
    monkeypatch.setattr(upgrade.host, "cgroup_mode", lambda: "v2")
    document = yaml.safe_load(upgrade_configuration(v(target)))
    flags = ("allowExperimentalUpgrades", "allowRCUpgrades")
    for section in ("plan", "apply"):
        assert {k: document[section][k] for k in flags if k in document[section]} == allowed
    # kubeadm's UpgradeNodeConfiguration has neither field.
    assert not set(flags) & set(document["node"])


def test_a_pre_release_of_the_next_minor_is_an_upgrade_of_one_minor() -> None:
    assert upgrade_refusal(v("v1.37.2"), v("v1.38.0-beta.0")) is None
    assert "skips a minor" in (upgrade_refusal(v("v1.36.3"), v("v1.38.0-beta.0")) or "")


def test_upgrade_configuration_skips_nothing_on_a_cgroup_v2_host(monkeypatch) -> None:
    monkeypatch.setattr(upgrade.host, "cgroup_mode", lambda: "v2")
    document = yaml.safe_load(upgrade_configuration(v("v1.37.2")))
    assert all("ignorePreflightErrors" not in document[s] for s in ("plan", "apply", "node"))


@pytest.mark.parametrize(
    ("version", "cgroup_v1", "skipped"),
    [
        ("v1.37.2", True, ("SystemVerification",)),
        ("v1.35.4", True, ("SystemVerification",)),
        ("v1.37.2", False, ()),
    ],
)
def test_system_verification_is_skipped_by_name_only_where_cgroup_v1_fails_it(
    version: str, cgroup_v1: bool, skipped: tuple[str, ...]
) -> None:
    assert preflight_errors_to_skip(v(version), host_cgroup_v1=cgroup_v1) == skipped


class FlakyNode:
    """A node whose kubectl fails with what an API server says while it restarts."""

    def __init__(self, outputs: list[str]) -> None:
        self.name = "lab-control-plane"
        self.outputs = outputs
        self.calls = 0

    def exec(self, command: list[str], timeout: float, on_line: object = None) -> None:
        from labkit.lab.node import ExecFailed, ExecResult

        self.calls += 1
        if self.outputs:
            result = ExecResult(tuple(command), 1, "", self.outputs.pop(0))
            raise ExecFailed(self.name, result)


def test_kubectl_is_retried_while_the_api_server_restarts(monkeypatch) -> None:
    monkeypatch.setattr(upgrade_commands, "API_RESTART_RETRY_DELAY", 0)
    node = FlakyNode(
        [
            "net/http: TLS handshake timeout",
            "The connection to the server lab-control-plane:6443 was refused",
            'pods is forbidden: User "kubernetes-admin"',
        ]
    )
    up = SimpleNamespace(progress=SimpleNamespace(detail=lambda _: None), api=None)
    upgrade_commands.kubectl(up, node, "drain", "lab-worker")  # type: ignore[arg-type]
    assert node.calls == 4


def test_kubectl_fails_at_once_on_another_error(monkeypatch) -> None:
    monkeypatch.setattr(upgrade_commands, "API_RESTART_RETRY_DELAY", 0)
    monkeypatch.setattr("labkit.lab.evidence.cluster_evidence", lambda api: {})
    node = FlakyNode(["error: cannot delete Pods with local storage"])
    up = SimpleNamespace(progress=SimpleNamespace(detail=lambda _: None), api=None)
    with pytest.raises(StepFailed, match="kubectl drain lab-worker"):
        upgrade_commands.kubectl(up, node, "drain", "lab-worker")  # type: ignore[arg-type]
    assert node.calls == 1


def test_kubeadm_upgrade_node_runs_again_while_the_api_server_restarts(monkeypatch) -> None:
    monkeypatch.setattr(upgrade_commands, "API_RESTART_RETRY_DELAY", 0)
    refused = (
        "I1202 05:08:38 kubeproxy.go:55] attempting to download the KubeProxyConfiguration\n"
        'error: unable to fetch the kubeadm-config ConfigMap: Get "https://lab:6443/api": '
        "dial tcp 10.201.0.2:6443: connect: connection refused"
    )
    node = FlakyNode([refused])
    node.exec = _with_output(node.exec)  # type: ignore[method-assign]
    up = SimpleNamespace(progress=SimpleNamespace(detail=lambda _: None))
    upgrade_commands.run_kubeadm(up, node, ["upgrade", "node"], again_while_api_restarts=True)  # type: ignore[arg-type]
    assert node.calls == 2


def test_kubeadm_apply_is_not_run_again(monkeypatch) -> None:
    monkeypatch.setattr("labkit.lab.evidence.node_evidence", lambda node: {})
    node = FlakyNode(["error: connection refused"])
    node.exec = _with_output(node.exec)  # type: ignore[method-assign]
    up = SimpleNamespace(progress=SimpleNamespace(detail=lambda _: None))
    with pytest.raises(StepFailed, match="kubeadm upgrade apply"):
        upgrade_commands.run_kubeadm(up, node, ["upgrade", "apply"])  # type: ignore[arg-type]
    assert node.calls == 1


def _with_output(exec_: Any) -> Any:
    """FlakyNode.exec, returning a result once it stops failing (kubeadm's output is read)."""

    def run(command: list[str], timeout: float, on_line: Any = None) -> Any:
        exec_(command, timeout)
        return SimpleNamespace(stdout="", stderr="")

    return run


@pytest.mark.parametrize(
    ("record", "current", "resumes"),
    [
        # Applied, stopped after the first control plane's kubelet: taken up again.
        ({"from": "v1.36.3", "to": "v1.37.2", "upgraded": [], "pending": ["a", "b"]},
         "v1.37.2", True),
        # Every node done: a second upgrade to the same release is refused as before.
        ({"from": "v1.36.3", "to": "v1.37.2", "upgraded": ["a", "b"], "pending": []},
         "v1.37.2", False),
        # Stopped before apply took: the cluster still runs the old release, so it starts over.
        ({"from": "v1.36.3", "to": "v1.37.2", "upgraded": [], "pending": ["a", "b"]},
         "v1.36.3", False),
        # A record of another target says nothing about this one.
        ({"from": "v1.36.3", "to": "v1.36.4", "upgraded": [], "pending": ["a"]},
         "v1.37.2", False),
        (None, "v1.37.2", False),
    ],
)  # fmt: skip
def test_an_unfinished_upgrade_to_the_same_target_is_taken_up_again(
    tmp_path, record: dict | None, current: str, resumes: bool
) -> None:
    lab = SimpleNamespace(state=SimpleNamespace(upgrade_record=lambda: record))
    found = upgrade.unfinished_upgrade(
        lab,  # type: ignore[arg-type]
        KubernetesVersion.parse(current),
        KubernetesVersion.parse("v1.37.2"),
    )
    assert (found is not None) == resumes
