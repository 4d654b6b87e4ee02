"""Breaking a lab on purpose and mending it: what the troubleshooting scenarios (and users
practising) do to reproduce a symptom, and the fixes they then apply.

Waits on the API end on a watch event, as `labkit.lab.waits` does.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import ssl
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client as k8s

from labkit.constants import (
    CONTAINERD_NAMESPACE,
    KUBEADM_FAILING_JOIN_TIMEOUT,
    KUBEADM_PREFLIGHT_TIMEOUT,
    KUBEADM_RESET_TIMEOUT,
    READY_TIMEOUT,
    manifest_path,
)
from labkit.errors import LabkitError
from labkit.goduration import go_duration
from labkit.kubeadm import BootstrapToken, join_config
from labkit.lab import waits
from labkit.lab.cni import apply_cni_manifest
from labkit.lab.lab import Lab
from labkit.lab.node import ExecResult, Node
from labkit.spec import LabSpec

JOIN_CONFIG = "/etc/labkit/join.yaml"
CONTROLLER_MANAGER_MANIFEST = manifest_path("kube-controller-manager")
# kubeadm prints each failed preflight check as `[ERROR <name>]: <message>`, an ignored or
# advisory one as `[WARNING <name>]: <message>`.
PREFLIGHT_LINE = re.compile(
    r"^\s*\[(?P<level>ERROR|WARNING) (?P<check>[^\]]+)\]: (?P<message>.*)$", re.MULTILINE
)


def lab_spec(lab: Lab) -> LabSpec:
    """The spec the lab was brought up from, as `lab up` saved it."""
    path = lab.state_dir / "spec.yaml"
    if not path.exists():
        raise LabkitError(
            f"lab {lab.name!r} has no saved spec at {path}; was it brought up by this user?"
        )
    return LabSpec.from_file(path)


# --- the network ---


def install_cni(lab: Lab, timeout: float = READY_TIMEOUT) -> None:
    """Apply the node image's flannel manifest with the lab's pod subnet, as `lab up` does
    for `cni: flannel`, then wait until every node is Ready and CoreDNS runs. Applying it
    again is harmless."""
    apply_cni_manifest(lab.control_plane, lab_spec(lab).networking.pod_subnet)
    wait_until_healthy(lab, timeout)


def wait_until_healthy(lab: Lab, timeout: float = READY_TIMEOUT) -> None:
    """What `lab up` waits for with a CNI (every node Ready, the control plane, CoreDNS
    and kube-proxy); TimeoutError naming the first condition not met otherwise."""
    spec = lab_spec(lab)
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


# --- images ---


def remove_image(node: Node, reference: str) -> list[str]:
    """Delete the image `reference` names from the node's containerd, under every name it
    has there, so that the next pod needing it has to pull it (and, with no registry
    reachable, cannot). Returns the names removed."""
    names = image_names(node, reference)
    if not names:
        raise LabkitError(f"{node.name}: containerd has no image {reference}")
    image_id = cri_image_id(node, reference)
    # The CRI also names each image by its config digest (`sha256:...`, crictl's IMAGE ID):
    # removing only the tag leaves the image there untagged, and `lab load-image` then
    # finds that ID and skips the node. The node image's `io.cri-containerd.pinned` label
    # only keeps the kubelet's image GC away; containerd 1.6 removes pinned images.
    node.exec(["ctr", "--namespace", CONTAINERD_NAMESPACE, "images", "rm", "--sync", *names])
    if image_id in _cri_image_ids(node):
        # containerd 1.6's CRI keeps a name that `ctr images import --digests` made
        # (`import-<date>@sha256:...`, which it cannot normalise) in its cache after the
        # name is gone; only a restart rebuilds the cache. Running containers keep running.
        node.exec(["systemctl", "restart", "containerd"])
        node.exec(
            ["timeout", "30", "sh", "-c", "until crictl info >/dev/null 2>&1; do sleep 0.2; done"]
        )
    if image_id in _cri_image_ids(node):
        raise LabkitError(
            f"{node.name}: the CRI still lists {reference} ({image_id}) after "
            "`ctr images rm` and a containerd restart"
        )
    return names


def cri_image_id(node: Node, reference: str) -> str:
    """The image's ID as the CRI (and the kubelet) know it: its config digest."""
    status = json.loads(node.output(["crictl", "inspecti", "-o", "json", reference]))
    return status["status"]["id"]


def _cri_image_ids(node: Node) -> set[str]:
    return set(node.exec(["crictl", "images", "--quiet", "--no-trunc"]).stdout.split())


def image_names(node: Node, reference: str) -> list[str]:
    """Every name containerd has for the image `reference` names (same manifest digest)."""
    listing = node.output(["ctr", "--namespace", CONTAINERD_NAMESPACE, "images", "list"])
    # Columns: REF TYPE DIGEST SIZE PLATFORMS LABELS.
    digests = {
        row[0]: row[2]
        for row in (line.split() for line in listing.splitlines()[1:])
        if len(row) > 2
    }
    wanted = digests.get(reference)
    return [name for name, digest in digests.items() if wanted and digest == wanted]


def watch_waiting_reasons(
    api: k8s.ApiClient,
    namespace: str,
    selector: str,
    *,
    node: str,
    skip: set[str],
    until: str,
    timeout: float,
    every_container: bool = False,
) -> tuple[k8s.V1Pod | None, dict[str, list[str]]]:
    """Follow the pod matching `selector` on `node` (not one of the uids in `skip`): each
    container's waiting reasons in the order the API reported them, until one of them (or,
    with `every_container`, each of them) has been `until` (or `timeout` passes). Returns
    the pod as last seen and the reasons. The kubelet reports a pod's status in batches, so
    a short-lived reason can be missed; the pod's events keep every step."""
    reasons: dict[str, list[str]] = {}
    latest: list[k8s.V1Pod] = []

    def satisfied(pods: list[k8s.V1Pod]) -> bool:
        for pod in pods:
            if pod.spec.node_name != node or pod.metadata.uid in skip:
                continue
            latest[:] = [pod]
            for status in [
                *(pod.status.init_container_statuses or []),
                *(pod.status.container_statuses or []),
            ]:
                waiting = status.state.waiting if status.state else None
                seen = reasons.setdefault(status.name, [])
                if waiting and waiting.reason and seen[-1:] != [waiting.reason]:
                    seen.append(waiting.reason)
        wanted = [until in seen for seen in reasons.values()]
        return bool(wanted) and (all(wanted) if every_container else any(wanted))

    core = k8s.CoreV1Api(api)
    waits.wait_until(
        core.list_namespaced_pod, satisfied, timeout, namespace=namespace, label_selector=selector
    )
    return (latest[0] if latest else None), reasons


def wait_for_events(
    api: k8s.ApiClient,
    namespace: str,
    pod: str,
    wanted: Callable[[list[k8s.CoreV1Event]], bool],
    timeout: float,
) -> list[k8s.CoreV1Event]:
    """The pod's events, oldest first, once `wanted` holds for them (or at `timeout`)."""
    core = k8s.CoreV1Api(api)
    selector = f"involvedObject.name={pod}"
    waits.wait_until(
        core.list_namespaced_event, wanted, timeout, namespace=namespace, field_selector=selector
    )
    events = core.list_namespaced_event(namespace, field_selector=selector).items
    return sorted(events, key=lambda e: str(e.first_timestamp or e.event_time or ""))


# --- the kubelet and the control plane's flags ---


def node_monitor_grace_period(lab: Lab) -> float:
    """Seconds the node controller waits for a silent kubelet before it marks the node
    Unknown: the controller-manager's flag when kubeadm set one, else its own default."""
    node = lab.control_plane
    manifest = yaml.safe_load(node.read_file(CONTROLLER_MANAGER_MANIFEST))
    command = manifest["spec"]["containers"][0]["command"]
    flag = next(
        (arg.split("=", 1)[1] for arg in command if arg.startswith("--node-monitor-grace-period=")),
        None,
    )
    if flag is None:
        # The default moved (40s until 1.31, 50s since 1.32): ask the binary that runs.
        container = node.output(["crictl", "ps", "--name", "kube-controller-manager", "-q"])
        help_text = node.output(
            ["crictl", "exec", container.split()[0], "kube-controller-manager", "--help"]
        )
        match = re.search(r"--node-monitor-grace-period duration .*\(default (\S+)\)", help_text)
        if not match:
            raise LabkitError(
                "kube-controller-manager --help does not give the default of "
                "--node-monitor-grace-period"
            )
        flag = match[1]
    return go_duration(flag).total_seconds()


# --- joining ---


def unjoin(lab: Lab, node: Node) -> None:
    """Undo `kubeadm join` on a worker: `kubeadm reset`, then delete its Node object, as an
    operator removing a node does."""
    node.exec(["kubeadm", "reset", "--force"], timeout=KUBEADM_RESET_TIMEOUT)
    with (
        contextlib.closing(lab.api_client()) as api,
        contextlib.suppress(k8s.ApiException),
    ):  # 404: it never registered
        k8s.CoreV1Api(api).delete_node(node.name)


def kubeadm_join(
    lab: Lab,
    node: Node,
    *,
    endpoint: str,
    token: BootstrapToken | str,
    ca_cert_hash: str,
    discovery_timeout: str = "10s",
) -> ExecResult:
    """Render labkit's JoinConfiguration for `node` with this join material and run
    `kubeadm join` with it; the result, failed or not.

    kubeadm retries discovery until its timeout (5 minutes by default) when a token is
    unknown, so a short one keeps a failing join short."""
    spec = lab_spec(lab)
    node_spec = next(n for n in spec.node_names() if n.name == node.name)
    rendered = join_config(spec, node_spec, node.address(lab.name), endpoint, token, ca_cert_hash)
    documents = list(yaml.safe_load_all(rendered))
    for document in documents:
        if document["kind"] == "JoinConfiguration":
            document.setdefault("timeouts", {})["discovery"] = discovery_timeout
    node.write_file(JOIN_CONFIG, yaml.safe_dump_all(documents, sort_keys=False).encode(), 0o600)
    return node.exec(
        ["kubeadm", "join", "--config", JOIN_CONFIG],
        timeout=KUBEADM_FAILING_JOIN_TIMEOUT,
        check=False,
    )


def join_token_in_use(node: Node, path: str = "/etc/labkit/kubeadm.yaml") -> BootstrapToken:
    """The bootstrap token in the JoinConfiguration `lab up` wrote on a worker."""
    for document in yaml.safe_load_all(node.read_file(path)):
        if document and document.get("kind") == "JoinConfiguration":
            return BootstrapToken.parse(document["discovery"]["bootstrapToken"]["token"])
    raise LabkitError(f"{node.name}:{path} has no JoinConfiguration")


# --- preflight ---


def preflight(node: Node, config: str, *, ignore: tuple[str, ...] = ()) -> ExecResult:
    """`kubeadm init phase preflight` with a config; the result, failed or not."""
    command = ["kubeadm", "init", "phase", "preflight", "--config", config]
    if ignore:
        command.append(f"--ignore-preflight-errors={','.join(ignore)}")
    return node.exec(command, timeout=KUBEADM_PREFLIGHT_TIMEOUT, check=False)


def preflight_findings(result: ExecResult, level: str) -> dict[str, str]:
    """Check name -> message of the `[ERROR ...]` or `[WARNING ...]` lines kubeadm printed
    (a check may print several lines: their messages are joined)."""
    found: dict[str, list[str]] = {}
    for match in PREFLIGHT_LINE.finditer(result.stdout + "\n" + result.stderr):
        if match["level"] == level:
            found.setdefault(match["check"], []).append(match["message"].strip())
    return {check: "; ".join(messages) for check, messages in found.items()}


@contextlib.contextmanager
def port_taken(node: Node, port: int) -> Iterator[str]:
    """A listener on `port` in the node for the duration, as a transient systemd unit (so
    that nothing outlives it); yields the unit's name."""
    unit = f"labkit-hold-port-{port}"
    node.exec(
        [
            "systemd-run",
            f"--unit={unit}",
            "--collect",
            "socat",
            f"TCP-LISTEN:{port},fork,reuseaddr",
            "-",
        ]
    )
    try:
        # socat binds a moment after systemd has started it.
        node.exec(
            [
                "timeout",
                "10",
                "sh",
                "-c",
                f"until ss -Hltn 'sport = :{port}' | grep -q .; do sleep 0.1; done",
            ]
        )
        yield unit
    finally:
        node.exec(["systemctl", "stop", unit], check=False)


@contextlib.contextmanager
def sysctl_set(node: Node, key: str, value: str) -> Iterator[str]:
    """`key` set to `value` in the node (its own network namespace for net.*), restored on
    exit; yields the value it had."""
    before = node.output(["sysctl", "-n", key]).strip()
    node.exec(["sysctl", "-w", f"{key}={value}"])
    try:
        yield before
    finally:
        node.exec(["sysctl", "-w", f"{key}={before}"])


# --- access to the API from the host ---


@dataclass(frozen=True)
class ApiAccess:
    """The lab's API server and CA, and the admin's client certificate and key, as the
    lab's kubeconfig (kubeadm's admin.conf, pointed at the host's loopback) embeds them."""

    server: str
    ca_pem: bytes
    client_cert_pem: bytes
    client_key_pem: bytes

    @classmethod
    def of(cls, lab: Lab) -> ApiAccess:
        config = yaml.safe_load(lab.kubeconfig.read_text())
        cluster = config["clusters"][0]["cluster"]
        user = config["users"][0]["user"]
        server = cluster["server"]
        if urllib.parse.urlsplit(server).hostname != "127.0.0.1":
            raise LabkitError(
                f"lab {lab.name}: API server {server} is not on the host's "
                "loopback; labkit only talks to a lab's own API there"
            )
        return cls(
            server,
            base64.b64decode(cluster["certificate-authority-data"]),
            base64.b64decode(user["client-certificate-data"]),
            base64.b64decode(user["client-key-data"]),
        )


@dataclass(frozen=True)
class ApiResponse:
    status: int
    body: dict[str, Any]


def api_request(
    access: ApiAccess,
    path: str,
    *,
    token: str | None = None,
    client_certificate: bool = False,
    body: dict[str, Any] | None = None,
    timeout: float = 20,
) -> ApiResponse:
    """One HTTPS request to the lab's API as a browser or curl would send it: the server
    verified against the lab's CA, and no credentials unless a bearer `token` or the admin's
    `client_certificate` is asked for. A POST when there is a `body`."""
    context = ssl.create_default_context(cadata=access.ca_pem.decode())
    if client_certificate:
        # ssl reads a certificate and key only from files; they live for this call only.
        with tempfile.TemporaryDirectory(prefix="labkit-") as directory:
            cert, key = Path(directory, "client.crt"), Path(directory, "client.key")
            cert.write_bytes(access.client_cert_pem)
            key.touch(mode=0o600)
            key.write_bytes(access.client_key_pem)
            context.load_cert_chain(cert, key)
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(access.server + path, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, context=context, timeout=timeout) as response:
            return ApiResponse(response.status, json.load(response))
    except urllib.error.HTTPError as error:
        return ApiResponse(error.code, json.loads(error.read() or b"{}"))
