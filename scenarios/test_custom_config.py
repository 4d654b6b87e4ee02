"""A kubeadm config of one's own reaches the node: encryptionAlgorithm ECDSA-P256 makes every
key ECDSA, and apiServer.extraArgs reach the manifest and the running kube-apiserver.

One lab (a control plane alone) serves both cases: its spec patches the ClusterConfiguration,
and the checks read their expectations from the config the node was given, not from the spec.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import ec

from labkit.checks import check_node
from labkit.checks.certificates import CERTIFICATES, SA_KEY, SA_PUB
from labkit.checks.kubeconfigs import KUBECONFIGS
from labkit.checks.lab import CheckRun, check_lab
from labkit.checks.lab_context import (
    LabConfig,
    node_context,
    read_lab_config,
    read_node,
)
from labkit.checks.parsing import (
    load_certificate,
    load_private_key,
    load_public_key,
    parse_kubeconfig,
)
from labkit.constants import KUBERNETES_DIR, PKI_DIR, manifest_path
from labkit.facade import Lab
from labkit.lab.workloads import kubectl

# profiling is a flag kubeadm does not set; kubelet-preferred-address-types replaces the
# default kubeadm renders (InternalIP,ExternalIP,Hostname).
EXTRA_ARGS = (("profiling", "false"), ("kubelet-preferred-address-types", "InternalIP,Hostname"))
DEFAULT_ADDRESS_TYPES = "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname"

pytestmark = pytest.mark.lab(
    workers=0,
    kubeadm={
        "ClusterConfiguration": {
            "encryptionAlgorithm": "ECDSA-P256",
            "apiServer": {"extraArgs": [{"name": n, "value": v} for n, v in EXTRA_ARGS]},
        }
    },
)

APISERVER_MANIFEST = manifest_path("kube-apiserver")


@pytest.fixture(scope="module")
def config(lab: Lab) -> LabConfig:
    return read_lab_config(lab.control_plane, read_node(lab.control_plane))


@pytest.fixture(scope="module")
def checked(lab: Lab) -> CheckRun:
    return check_lab(lab)


def test_expectations_come_from_the_node_config(config: LabConfig) -> None:
    fields = config.context_fields()
    assert fields["encryption_algorithm"] == "ECDSA-P256"
    assert fields["apiserver_extra_args"] == EXTRA_ARGS


def test_every_rule_passes_and_rsa_expectations_would_fail(
    lab: Lab, config: LabConfig, checked: CheckRun
) -> None:
    assert [f.message for f in checked.failures] == []
    # The key rules do look: the same node against RSA-2048 expectations fails them.
    artifacts = read_node(lab.control_plane)
    rsa = replace(
        node_context(config, artifacts, lab.control_plane.lab_address()),
        encryption_algorithm="RSA-2048",
    )
    failing = {f.rule_id for f in check_node(artifacts, rsa) if f.status == "fail"}
    assert failing == {"pki.key-algorithm", "kubeconfig.key-algorithm"}


def _p256(key: object) -> bool:
    return isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) and (
        key.curve.name == "secp256r1"
    )


def test_every_key_kubeadm_made_is_ecdsa_p256(lab: Lab) -> None:
    files = read_node(lab.control_plane).files
    keys = {p for p in files if p.startswith(PKI_DIR + "/") and p.endswith(".key")}
    assert keys == {spec.key_path for spec in CERTIFICATES} | {SA_KEY}
    not_p256 = [p for p in sorted(keys) if not _p256(load_private_key(files[p].data))]
    not_p256 += [
        s.cert_path
        for s in CERTIFICATES
        if not _p256(load_certificate(files[s.cert_path].data).public_key())
    ]
    if not _p256(load_public_key(files[SA_PUB].data)):
        not_p256.append(SA_PUB)
    for spec in KUBECONFIGS:
        if spec.file == "kubelet.conf":
            continue  # the kubelet's own rotating certificate, not kubeadm's
        kubeconfig = parse_kubeconfig(files[f"{KUBERNETES_DIR}/{spec.file}"].text)
        if not _p256(load_private_key(kubeconfig.client_key_data or b"")):
            not_p256.append(spec.path)
    assert not_p256 == []


def _flags_of(command: list[str]) -> list[str]:
    return [
        word
        for word in command
        if word.startswith("--kubelet-preferred-address-types") or word.startswith("--profiling")
    ]


def test_extra_args_are_in_the_apiserver_manifest(lab: Lab) -> None:
    manifest = read_node(lab.control_plane).files[APISERVER_MANIFEST].text
    command = yaml.safe_load(manifest)["spec"]["containers"][0]["command"]
    assert sorted(_flags_of(command)) == sorted(f"--{n}={v}" for n, v in EXTRA_ARGS)
    assert DEFAULT_ADDRESS_TYPES not in command


def test_extra_args_are_on_the_running_apiserver(lab: Lab) -> None:
    node = lab.control_plane
    pids = node.exec(["pgrep", "-x", "kube-apiserver"]).stdout.split()
    assert len(pids) == 1, f"kube-apiserver processes: {pids}"
    command = node.exec(["cat", f"/proc/{pids[0]}/cmdline"]).stdout.split("\0")
    assert command[0] == "kube-apiserver"
    assert sorted(_flags_of(command)) == sorted(f"--{n}={v}" for n, v in EXTRA_ARGS)
    assert DEFAULT_ADDRESS_TYPES not in command


def test_the_running_apiserver_serves_no_profiles(lab: Lab, checked: CheckRun) -> None:
    result = kubectl(lab, "get", "--raw", "/debug/pprof/")
    assert not result.ok and "NotFound" in result.stderr, result.stdout[:200] + result.stderr
    # The controller-manager, given no extra arg, still profiles: the CIS item says so.
    known = {f.path for f in checked.findings if f.rule_id == "cis.profiling"}
    assert known == {manifest_path("kube-controller-manager"), manifest_path("kube-scheduler")}
