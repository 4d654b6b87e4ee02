"""Troubleshooting `kubeadm init` before it changes anything: config validation and preflight.

One node: `bring_up` of a spec whose node name kubeadm refuses stops at the `kubeadm init`
step, and (asked to keep the lab) leaves a control-plane node that was never initialised.
Each scenario then breaks one thing on it, runs `kubeadm init phase preflight --config`
(seconds, where a whole init takes a minute), asserts kubeadm's error, then shows the run
with that check ignored passing where kubeadm allows it, and puts the node back.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import yaml

from labkit.constants import KUBEADM_CONFIG
from labkit.errors import StepFailed
from labkit.facade import Lab
from labkit.host import docker_client
from labkit.kubeadm import BootstrapToken, init_config
from labkit.lab.model import delete_lab
from labkit.lab.node import Node
from labkit.pytest_ownership import lab_name, lab_owner
from labkit.pytest_plugin import spec_from_marker
from labkit.spec import LabSpec
from labkit.troubleshooting import port_taken, preflight, preflight_findings, sysctl_set

# kubeadm lowercases the name, then validates it as an RFC 1123 subdomain.
BAD_NAME = "Control_Plane"
RFC_1123 = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
    "characters, '-' or '.', and must start and end with an alphanumeric character"
)
GOOD_CONFIG = "/etc/labkit/preflight.yaml"
PREFLIGHT_FAILED = "error execution phase preflight: preflight checks failed"
# The findings of a clean run on these hosts: cgroup v1 (see kubeadm-invariants; labkit
# skips it by name). No ContainerRuntimeVersion: the node's containerd 2 answers the CRI
# RuntimeConfig call, which kubeadm 1.36 and later ask for.
CGROUP_V1 = "SystemVerification"
HOST_WARNINGS = {CGROUP_V1}
HOSTNAME = "Hostname"


@dataclass(frozen=True)
class FailedLab:
    failure: StepFailed
    lab: Lab
    spec: LabSpec  # the spec without the bad node name

    @property
    def node(self) -> Node:
        return self.lab.control_plane


@pytest.fixture(scope="module")
def failed(request: pytest.FixtureRequest) -> Iterator[FailedLab]:
    name = lab_name(request.node.nodeid, lab_owner(request.config))
    fields = {"workers": 0, "cni": "none"}
    override = {"kubeadm": {"InitConfiguration": {"nodeRegistration": {"name": BAD_NAME}}}}
    bad = spec_from_marker(
        {**fields, "nodes": {f"{name}-control-plane": override}}, name=name, config=request.config
    )
    client = docker_client()
    try:
        with pytest.raises(StepFailed) as failure:
            Lab.up(bad, client=client, keep_on_failure=True)
        good = spec_from_marker(fields, name=name, config=request.config)
        failed = FailedLab(failure.value, Lab.find(client, name), good)
        write_config(failed, GOOD_CONFIG)
        yield failed
    finally:
        delete_lab(client, name)


def write_config(failed: FailedLab, path: str, node_name: str | None = None) -> None:
    """labkit's init config for the node, with `node_name` as nodeRegistration.name."""
    spec, node = failed.spec, failed.node
    rendered = init_config(
        spec, spec.control_plane, node.address(failed.lab.name), BootstrapToken.generate()
    )
    documents = list(yaml.safe_load_all(rendered))
    if node_name is not None:
        documents[0]["nodeRegistration"]["name"] = node_name
    node.write_file(path, yaml.safe_dump_all(documents, sort_keys=False).encode(), 0o600)


def assert_passes(
    node: Node, config: str = GOOD_CONFIG, ignore: tuple[str, ...] = ()
) -> dict[str, str]:
    """The preflight run passes; returns its warnings."""
    result = preflight(node, config, ignore=ignore)
    assert result.ok, result.stdout + result.stderr
    assert preflight_findings(result, "ERROR") == {}
    return preflight_findings(result, "WARNING")


def test_bring_up_stops_at_kubeadm_init_with_kubeadms_output(failed: FailedLab) -> None:
    failure = failed.failure
    assert (failure.step, failure.node, failure.reason) == (
        "kubeadm init",
        failed.node.name,
        "kubeadm exited 1",
    )
    output = failure.evidence["kubeadm output (tail)"]
    assert f'nodeRegistration.name: Invalid value: "{BAD_NAME.lower()}": {RFC_1123}' in output
    assert str(failure).startswith(
        f"step 'kubeadm init' failed on node {failed.node.name}: kubeadm exited 1"
    )
    assert f"{failed.node.name}: journalctl -u kubelet (tail)" in failure.evidence

    # Refused before it changed anything: no manifests, no kubelet config, no kubeconfig.
    node = failed.node
    assert node.exec(["ls", "-A", "/etc/kubernetes/manifests"]).stdout == ""
    assert not node.exec(["test", "-e", "/var/lib/kubelet/config.yaml"], check=False).ok
    assert not failed.lab.kubeconfig.exists()

    found = failed.lab.diagnose().diagnoses
    assert [(d.cause_id, d.subject) for d in found] == [
        ("api.not-initialized", f"node/{node.name}")
    ]
    assert f"kubeadm init phase preflight --config {KUBEADM_CONFIG}" in found[0].fix


def test_the_node_name_is_validated_before_preflight_and_cannot_be_ignored(
    failed: FailedLab,
) -> None:
    node = failed.node
    for ignore in ((), ("all",)):
        refused = preflight(node, KUBEADM_CONFIG, ignore=ignore)  # the config `lab up` wrote
        assert not refused.ok
        assert (
            f'nodeRegistration.name: Invalid value: "{BAD_NAME.lower()}": {RFC_1123}'
            in refused.stderr
        )
        assert preflight_findings(refused, "ERROR") == {}  # not a preflight check at all

    # Upper case alone is not an error: kubeadm lowercases the name first.
    write_config(failed, "/etc/labkit/upper.yaml", node.name.upper())
    assert HOSTNAME not in assert_passes(node, "/etc/labkit/upper.yaml")
    # The preflight Hostname check only warns, about a name the node cannot resolve.
    write_config(failed, "/etc/labkit/elsewhere.yaml", "elsewhere")
    warnings = assert_passes(node, "/etc/labkit/elsewhere.yaml")
    assert warnings[HOSTNAME].startswith(
        'hostname "elsewhere" could not be reached; hostname "elsewhere": lookup elsewhere on '
    )


def test_port_6443_in_use_fails_preflight_until_ignored(failed: FailedLab) -> None:
    node = failed.node
    assert set(assert_passes(node)) <= HOST_WARNINGS
    with port_taken(node, 6443):
        refused = preflight(node, GOOD_CONFIG)
        assert not refused.ok and PREFLIGHT_FAILED in refused.stderr
        assert preflight_findings(refused, "ERROR") == {"Port-6443": "Port 6443 is in use"}
        warnings = assert_passes(node, ignore=("Port-6443",))
        assert warnings["Port-6443"] == "Port 6443 is in use"
    assert set(assert_passes(node)) <= HOST_WARNINGS


def test_ip_forward_off_fails_preflight_until_ignored(failed: FailedLab) -> None:
    node = failed.node
    check = "FileContent--proc-sys-net-ipv4-ip_forward"
    message = "/proc/sys/net/ipv4/ip_forward contents are not set to 1"
    with sysctl_set(node, "net.ipv4.ip_forward", "0") as before:
        assert before == "1"
        refused = preflight(node, GOOD_CONFIG)
        assert not refused.ok and PREFLIGHT_FAILED in refused.stderr
        assert preflight_findings(refused, "ERROR") == {check: message}
        assert assert_passes(node, ignore=(check,))[check] == message
    assert set(assert_passes(node)) <= HOST_WARNINGS
