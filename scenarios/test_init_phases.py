"""kubeadm init one phase at a time, then a worker's join and the cluster it made.

One lab serves the module (1 control plane + 1 worker, `init: phases`): a `PhaseRecorder`
keeps the control plane's files (and, once the API serves, the cluster's objects) after
every `kubeadm init phase`, and the tests check each state afterwards: what the phase wrote,
that its rules pass, and that what later phases write is not there yet. The finished lab
then answers for the join (the worker) and the cluster objects of kubeadm's section 5.
"""

from __future__ import annotations

import pytest

from labkit.checks import (
    Finding,
    Rule,
    check_cluster,
    check_node,
    fetch_cluster_snapshot,
)
from labkit.checks.certificates import CERTIFICATES, SA_KEY, SA_PUB
from labkit.checks.context import nth_ip
from labkit.checks.kubeconfigs import KUBECONFIGS
from labkit.checks.lab import check_lab
from labkit.checks.lab_context import (
    LabConfig,
    cluster_context,
    node_context,
    read_lab_config,
    read_node,
)
from labkit.checks.lab_phases import PhaseRecorder, PhaseState, rules_of
from labkit.checks.parsing import load_yaml_mapping, parse_kubeconfig
from labkit.checks.snapshot import KUBE_PUBLIC, KUBE_SYSTEM, ClusterSnapshot
from labkit.cli import main as labkit_main
from labkit.constants import (
    KUBELET_CLIENT_PEM,
    KUBELET_CONFIG,
    KUBELET_FLAGS_ENV,
    KUBERNETES_DIR,
    MANIFESTS_DIR,
    PKI_DIR,
    manifest_path,
)
from labkit.facade import Lab
from labkit.kubeadm.config import CONTROL_PLANE_COMPONENTS, init_phases
from labkit.versions import KubernetesVersion

CONTROL_PLANE_TAINT = {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}
CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"


pytestmark = pytest.mark.lab(workers=1, init="phases")


@pytest.fixture(scope="module")
def recorder() -> PhaseRecorder:
    return PhaseRecorder()


@pytest.fixture(scope="module")
def lab_on_phase(recorder: PhaseRecorder) -> PhaseRecorder:
    return recorder


@pytest.fixture(scope="module")
def phases(lab: Lab, recorder: PhaseRecorder) -> PhaseRecorder:
    """Every phase's state, once the lab is up."""
    return recorder


@pytest.fixture(scope="module")
def config(lab: Lab) -> LabConfig:
    return read_lab_config(lab.control_plane, read_node(lab.control_plane))


def written_by(phases: PhaseRecorder, phase: str) -> set[str]:
    """The files that exist after `phase` and did not before it."""
    order = phases.phases
    index = order.index(phase)
    before = phases[order[index - 1]].artifacts.files if index else {}
    after = phases[phase].artifacts.files
    return {path for path, entry in after.items() if not entry.is_dir and path not in before}


def failures(findings: list[Finding]) -> list[str]:
    return [f.message for f in findings if f.status == "fail"]


def node_failures(
    phase: PhaseState,
    lab: Lab,
    config: LabConfig,
    rules: tuple[Rule, ...],
    *,
    rotation: bool = False,
) -> list[str]:
    """The failures of these node rules on the control plane's files recorded after `phase`."""
    context = node_context(
        config, phase.artifacts, lab.control_plane.lab_address(), kubelet_client_rotation=rotation
    )
    return failures(check_node(phase.artifacts, context, rules=rules))


def cluster_failures(
    phase: PhaseState, lab: Lab, config: LabConfig, *rule_ids: str
) -> list[Finding]:
    """The failing findings of these cluster rules on the objects recorded after `phase`."""
    assert phase.snapshot is not None, f"no cluster snapshot after {phase.phase}"
    address = {lab.control_plane.name: lab.control_plane.lab_address()}
    rules = rules_of(ids=rule_ids)
    assert len(rules) == len(rule_ids), f"unknown rule among {rule_ids}"
    findings = check_cluster(
        phase.snapshot, cluster_context(config, [phase.artifacts], address), rules=rules
    )
    return [f for f in findings if f.status == "fail"]


def under(paths: set[str], directory: str) -> set[str]:
    return {p for p in paths if p.startswith(directory + "/")}


def test_every_phase_ran_in_kubeadm_order(config: LabConfig, phases: PhaseRecorder) -> None:
    version = KubernetesVersion.parse(config.cluster_field("kubernetesVersion"))
    assert phases.phases == [phase.name for phase in init_phases(version)]


def test_preflight_writes_nothing_of_kubeadm(phases: PhaseRecorder) -> None:
    files = phases["preflight"].artifacts.files
    written = {p for p, e in files.items() if not e.is_dir}
    assert under(written, KUBERNETES_DIR) == set()
    assert under(written, "/var/lib/kubelet") == set()


def test_certs_writes_the_pki_and_only_the_pki(
    lab: Lab, config: LabConfig, phases: PhaseRecorder
) -> None:
    state = phases["certs"]
    expected = {p for spec in CERTIFICATES for p in (spec.cert_path, spec.key_path)}
    assert written_by(phases, "certs") == expected | {SA_KEY, SA_PUB}
    rules = rules_of(
        "pki", ids=("cis.pki-ownership", "cis.pki-certificate-mode", "cis.pki-key-mode")
    )
    assert node_failures(state, lab, config, rules) == []


def test_kubeconfig_writes_the_five_kubeconfigs_with_embedded_credentials(
    lab: Lab, config: LabConfig, phases: PhaseRecorder
) -> None:
    state = phases["kubeconfig"]
    assert written_by(phases, "kubeconfig") == {spec.path for spec in KUBECONFIGS}
    rules = rules_of(
        "kubeconfig",
        ids=("cis.admin-kubeconfigs", "cis.component-kubeconfigs", "cis.kubelet-kubeconfig"),
    )
    assert node_failures(state, lab, config, rules) == []
    # Until kubelet-finalize, the first control plane's kubelet.conf embeds its certificate.
    kubelet = parse_kubeconfig(state.artifacts.files[f"{KUBERNETES_DIR}/kubelet.conf"].text)
    assert kubelet.client_certificate_data and kubelet.client_certificate is None
    assert under(set(state.artifacts.files), MANIFESTS_DIR) == set()


def test_etcd_then_control_plane_write_the_four_static_pods(
    lab: Lab, config: LabConfig, phases: PhaseRecorder
) -> None:
    assert written_by(phases, "etcd") == {manifest_path("etcd")}
    assert written_by(phases, "control-plane") == {
        manifest_path(c) for c in CONTROL_PLANE_COMPONENTS if c != "etcd"
    }
    state = phases["control-plane"]
    rules = rules_of("manifest", ids=("cis.manifests", "cis.manifests-dir"))
    assert node_failures(state, lab, config, rules) == []
    assert not state.artifacts.has(KUBELET_CONFIG)  # kubelet-start comes next


def test_kubelet_start_writes_the_kubelet_files(
    lab: Lab, config: LabConfig, phases: PhaseRecorder
) -> None:
    written = written_by(phases, "kubelet-start")
    assert {KUBELET_CONFIG, KUBELET_FLAGS_ENV} <= written
    assert under(written, KUBERNETES_DIR) == set()
    assert node_failures(phases["kubelet-start"], lab, config, rules_of("kubelet")) == []


# The cluster rules that hold from the end of each phase on (mark-control-plane's, which
# fail before it, are checked on both sides below).
CLUSTER_RULES_AFTER = {
    "upload-config": ("cluster.kubeadm-configmaps",),
    "bootstrap-token": (
        "cluster.bootstrap-token",
        "cluster.cluster-info",
        "cluster.cluster-info-jws",
        "cluster.public-bindings",
    ),
    "addon": (
        "addons.coredns-deployment",
        "addons.coredns-image",
        "addons.kube-dns-service",
        "addons.kube-proxy-daemonset",
        "addons.kube-proxy-image",
        "cluster.cluster-role-bindings",
    ),
}


@pytest.mark.parametrize("phase", CLUSTER_RULES_AFTER)
def test_phase_passes_its_cluster_rules(
    lab: Lab, config: LabConfig, phases: PhaseRecorder, phase: str
) -> None:
    assert cluster_failures(phases[phase], lab, config, *CLUSTER_RULES_AFTER[phase]) == []


def test_upload_config_uploads_kubeadm_and_kubelet_config(
    config: LabConfig, phases: PhaseRecorder
) -> None:
    snapshot: ClusterSnapshot = phases["upload-config"].snapshot
    uploaded = snapshot.find("config_maps", KUBE_SYSTEM, "kubeadm-config")
    cluster = load_yaml_mapping(uploaded["data"]["ClusterConfiguration"])
    assert cluster["networking"] == config.cluster["networking"]
    assert cluster["controlPlaneEndpoint"] == config.cluster_field("controlPlaneEndpoint")
    # The bootstrap-token phase has not run: no token, no cluster-info.
    assert snapshot.secrets == ()
    assert snapshot.find("config_maps", KUBE_PUBLIC, "cluster-info") is None


def test_mark_control_plane_labels_and_taints_the_node(
    lab: Lab, config: LabConfig, phases: PhaseRecorder
) -> None:
    rules = ("node-state.control-plane-labels", "node-state.control-plane-taint")
    assert len(cluster_failures(phases["upload-config"], lab, config, *rules)) == 2
    assert cluster_failures(phases["mark-control-plane"], lab, config, *rules) == []


def test_bootstrap_token_creates_the_token_and_signed_cluster_info(
    lab: Lab, config: LabConfig, phases: PhaseRecorder
) -> None:
    state = phases["bootstrap-token"]
    token_id = config.init["bootstrapTokens"][0]["token"].split(".")[0]
    assert [s["metadata"]["name"] for s in state.snapshot.secrets] == [
        f"bootstrap-token-{token_id}"
    ]
    cluster_info = state.snapshot.find("config_maps", KUBE_PUBLIC, "cluster-info")
    assert f"jws-kubeconfig-{token_id}" in cluster_info["data"]
    # Every kubeadm ClusterRoleBinding exists now except the two the addons bring.
    missing = cluster_failures(state, lab, config, "cluster.cluster-role-bindings")
    assert {(f.path, f.found) for f in missing} == {
        ("ClusterRoleBinding/kubeadm:node-proxier", "none"),
        ("ClusterRoleBinding/system:coredns", "none"),
    }


def test_kubelet_finalize_points_kubelet_conf_at_the_rotating_certificate(
    lab: Lab, config: LabConfig, phases: PhaseRecorder
) -> None:
    rule = rules_of(ids=("kubeconfig.kubelet-rotation",))
    before, after = phases["bootstrap-token"], phases["kubelet-finalize"]
    assert node_failures(before, lab, config, rule, rotation=True)
    assert node_failures(after, lab, config, rule, rotation=True) == []
    kubelet = parse_kubeconfig(after.artifacts.files[f"{KUBERNETES_DIR}/kubelet.conf"].text)
    assert kubelet.client_certificate == kubelet.client_key == KUBELET_CLIENT_PEM


def test_addon_installs_coredns_and_kube_proxy(phases: PhaseRecorder) -> None:
    state = phases["addon"]
    assert state.snapshot.find("deployments", KUBE_SYSTEM, "coredns")["spec"]["replicas"] == 2
    assert phases["bootstrap-token"].snapshot.find("deployments", KUBE_SYSTEM, "coredns") is None


# The finished lab: the worker's join and the cluster's objects.


def test_worker_holds_only_what_join_leaves(lab: Lab, config: LabConfig) -> None:
    worker = lab.workers[0]
    artifacts = read_node(worker)
    context = node_context(config, artifacts, worker.lab_address())
    assert failures(check_node(artifacts, context)) == []
    files = {p for p, e in artifacts.files.items() if not e.is_dir}
    assert under(files, PKI_DIR) == {f"{PKI_DIR}/ca.crt"}
    assert artifacts.files[f"{PKI_DIR}/ca.crt"].mode == 0o644
    assert under(files, KUBERNETES_DIR) == {f"{PKI_DIR}/ca.crt", f"{KUBERNETES_DIR}/kubelet.conf"}
    kubelet = parse_kubeconfig(artifacts.files[f"{KUBERNETES_DIR}/kubelet.conf"].text)
    assert kubelet.user_name == "default-auth"
    assert kubelet.client_certificate == kubelet.client_key == KUBELET_CLIENT_PEM
    assert artifacts.has(KUBELET_CLIENT_PEM)
    assert {KUBELET_CONFIG, KUBELET_FLAGS_ENV} <= files


def test_cluster_objects_are_kubeadms(lab: Lab, config: LabConfig) -> None:
    artifacts = [read_node(node) for node in lab.nodes]
    addresses = {node.name: node.lab_address() for node in lab.nodes}
    context = cluster_context(config, artifacts, addresses)
    # The CA pin the worker joined with is what the discovery-hash rule compares.
    assert context.discovery_token_ca_cert_hash
    snapshot = fetch_cluster_snapshot(lab.api_client())
    assert failures(check_cluster(snapshot, context)) == []
    coredns = snapshot.find("deployments", KUBE_SYSTEM, "coredns")
    assert coredns["spec"]["replicas"] == 2
    assert coredns["status"].get("readyReplicas") == 2
    kube_dns = snapshot.find("services", KUBE_SYSTEM, "kube-dns")
    assert kube_dns["spec"]["clusterIP"] == nth_ip(
        config.cluster_field("networking.serviceSubnet"), 10
    )
    control_plane = snapshot.node(lab.control_plane.name)
    assert CONTROL_PLANE_TAINT in control_plane["spec"]["taints"]
    worker = snapshot.node(lab.workers[0].name)
    assert CONTROL_PLANE_LABEL not in worker["metadata"]["labels"]
    assert not worker["spec"].get("taints")


def test_labkit_check_passes_then_catches_a_loosened_file(
    lab: Lab, capsys: pytest.CaptureFixture[str]
) -> None:
    assert labkit_main(["check", lab.name]) == 0
    assert ", 0 failures, " in capsys.readouterr().out
    kubelet_conf = f"{KUBERNETES_DIR}/kubelet.conf"
    worker = lab.workers[0]
    worker.exec(["chmod", "0644", kubelet_conf])
    try:
        run = check_lab(lab)
    finally:
        worker.exec(["chmod", "0600", kubelet_conf])
    assert [(f.rule_id, f.node, f.path) for f in run.failures] == [
        ("cis.kubelet-kubeconfig", worker.name, kubelet_conf)
    ]
