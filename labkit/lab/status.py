"""`labkit lab status`: the lab as Docker and the API see it, and when something does not
answer, which thing, why, and what to do.

    status = Lab.find(docker_client(), "demo").status()
    for problem in status["problems"]:
        print(problem["problem"], problem["fix"])

The API server of a lab fails to answer in a few distinct ways: its node container is
stopped; it restarts or crash-loops (a changed manifest, a bad flag, etcd down), which
`crictl` on the control plane shows; or Docker published its port anew when the container
restarted, so the lab's kubeconfig points at a port nobody listens on. Each gets its fix.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

import urllib3.exceptions
import yaml
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from labkit.constants import (
    API_REQUEST_TIMEOUT,
    API_SERVER_PORT,
    CRICTL_TIMEOUT,
    ROLE_LOAD_BALANCER,
    manifest_path,
)
from labkit.diagnose.fetch import read_runtime
from labkit.errors import LabkitError
from labkit.lab.lab import Lab
from labkit.lab.node import Node
from labkit.lab.waits import is_ready
from labkit.spec import etcd_quorum

# What the kubernetes client raises when the API server does not answer (urllib3's
# connection, TLS and timeout errors) or answers with an error status.
API_FAILURES = (urllib3.exceptions.HTTPError, ApiException)
# How often `wait_for_api` asks /readyz again; a restarting API server takes 10-30 s.
API_PROBE_INTERVAL = 1.0
# Components the API server needs, in the order they have to come up.
_API_COMPONENTS = ("etcd", "kube-apiserver")
_LOG_LINES = 40
# urllib3 names the connection object before its message; the user needs only the message.
_CONNECTION_PREFIX = re.compile(r"^<?\S*Connection(?: object at 0x[0-9a-f]+>|\([^)]*\)): ")
_KLOG_PREFIX = re.compile(r"^[IWEF]\d{4} [\d:.]+\s+\d+ [^\]]+\] ")
_ERROR_LINE = re.compile(r"^[EF]\d{4} |\b(error|failed|fatal|panic)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Problem:
    """Something of the lab that does not answer: what, with the evidence, and the fix."""

    subject: str  # node/<name> or api
    problem: str
    fix: str


def failure_reason(error: BaseException) -> str:
    """The error under the client's wrappers, in one line: `ConnectionRefusedError: [Errno
    111] Connection refused` rather than urllib3's MaxRetryError around a NewConnectionError."""
    if isinstance(error, ApiException):
        return _http_reason(error)
    inner = error
    for _ in range(8):
        nested = _nested(inner)
        if nested is None:
            break
        inner = nested
    text = _CONNECTION_PREFIX.sub("", " ".join(str(inner).split()))
    return f"{type(inner).__name__}: {text}"[:300] if text else type(inner).__name__


def _nested(error: BaseException) -> BaseException | None:
    # MaxRetryError keeps the cause in `reason`, requests and urllib3's ProtocolError and
    # SSLError in their args, NewConnectionError in __cause__ (raise ... from).
    reason = getattr(error, "reason", None)
    if isinstance(reason, BaseException):
        return reason
    for arg in error.args:
        if isinstance(arg, BaseException):
            return arg
    return error.__cause__


def _http_reason(error: ApiException) -> str:
    if not error.status:  # the client's own wrapping of a TLS error: no HTTP answer
        return " ".join(str(error.reason).split())[:300]
    body = str(error.body or "").strip()
    try:
        message = str(json.loads(body).get("message", ""))
    except (ValueError, AttributeError):
        # /readyz lists its checks, `[-]` for each that fails.
        failing = [line for line in body.splitlines() if line.startswith("[-]")]
        message = " ".join(failing) or body.partition("\n")[0]
    head = f"HTTP {error.status} {error.reason}"
    return f"{head}: {' '.join(message.split())}"[:300] if message else head


def api_readiness(api: k8s.ApiClient) -> str | None:
    """None when the API server says it is ready (/readyz), else why not, in one line."""
    request = api.param_serialize("GET", "/readyz", auth_settings=["BearerToken"])
    try:
        response = api.call_api(*request, _request_timeout=API_REQUEST_TIMEOUT)
        response.read()
    except API_FAILURES as error:
        return failure_reason(error)
    if 200 <= response.status <= 299:
        return None
    body = response.data.decode(errors="replace") if response.data else None
    return failure_reason(ApiException(http_resp=response, body=body))


def wait_for_api(api: k8s.ApiClient, seconds: float) -> str | None:
    """Probe /readyz until it answers ready or `seconds` pass; None, or why it still does
    not answer. A probe rather than a watch: there is no API to watch while it is down."""
    deadline = time.monotonic() + seconds
    while (problem := api_readiness(api)) is not None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return problem
        time.sleep(min(API_PROBE_INTERVAL, remaining))
    return None


def lab_status(lab: Lab) -> dict[str, Any]:
    """What `labkit lab status` prints (its --json): each container, the API, the problems
    with their fixes, the bring-up's timings and the last upgrade."""
    name = lab.name
    server, kube_state, api_error = _kubernetes_state(lab)
    nodes = []
    for node in lab.containers:
        networks = node.container.attrs["NetworkSettings"]["Networks"]
        ip = next(iter(networks.values()), {}).get("IPAddress") if networks else None
        unknown = "unknown" if api_error is None else "API unreachable"
        if node.role == ROLE_LOAD_BALANCER:
            unknown = "-"  # not a node of the cluster
        nodes.append(
            {
                "name": node.name,
                "role": node.role,
                "container": node.container.status,
                "ip": ip or None,
                "kubernetes": kube_state.get(node.name, unknown),
            }
        )
    record = lab.bringup_record()
    upgrade_record = lab.state_dir / "upgrade.json"
    return {
        "name": name,
        "kubeconfig": str(lab.kubeconfig),
        "nodes": nodes,
        "api": {"server": server, "answers": api_error is None, "error": api_error},
        "problems": [asdict(problem) for problem in lab_problems(lab, server, api_error)],
        "timings": record.get("timings", {}),
        "upgrade": json.loads(upgrade_record.read_text()) if upgrade_record.exists() else None,
    }


def _kubernetes_state(lab: Lab) -> tuple[str | None, dict[str, str], str | None]:
    """(the API server's address, node -> Ready or NotReady, why the API did not answer)."""
    try:
        api = lab.api_client()
    except LabkitError as error:
        return None, {}, str(error)
    try:
        listed = k8s.CoreV1Api(api).list_node(_request_timeout=API_REQUEST_TIMEOUT).items
    except API_FAILURES as error:
        return api.configuration.host, {}, failure_reason(error)
    finally:
        api.close()
    states = {n.metadata.name: "Ready" if is_ready(n) else "NotReady" for n in listed}
    return api.configuration.host, states, None


def lab_problems(lab: Lab, server: str | None, api_error: str | None) -> list[Problem]:
    """Stopped containers (nodes, the load balancer), then why the API does not answer (if
    it does not)."""
    front = lab.api_front
    problems = [p for p in (stopped_node(lab, node) for node in lab.containers) if p]
    if front.container.status != "running":
        return problems  # its stopped container is the API's problem too
    lost = quorum_problem(lab) if api_error is not None else None
    if lost:
        return [*problems, lost]
    mismatch = kubeconfig_port_mismatch(lab)
    if mismatch:
        problems.append(mismatch)
    elif api_error is not None and server is not None:
        problems.append(api_server_problem(lab, f"the API server at {server}", api_error))
    elif api_error is not None:
        problems.append(Problem("api", api_error, f"`labkit lab down {lab.name}`, then up"))
    return problems


def quorum_problem(lab: Lab) -> Problem | None:
    """Fewer control planes run than etcd's quorum (a majority of its members)."""
    control_planes = lab.control_planes
    stopped = [n.name for n in control_planes if n.container.status != "running"]
    quorum = etcd_quorum(len(control_planes))
    if len(control_planes) < 2 or len(control_planes) - len(stopped) >= quorum:
        return None
    return Problem(
        "etcd",
        f"etcd lost its quorum: {len(control_planes) - len(stopped)} of its "
        f"{len(control_planes)} members run and it needs {quorum}",
        f"`labkit lab start {lab.name}` starts {', '.join(stopped)}",
    )


def stopped_node(lab: Lab, node: Node) -> Problem | None:
    """A container of the lab that is not running, with what Docker says of its end."""
    status = node.container.status
    if status == "running":
        return None
    node.container.reload()
    state = node.container.attrs.get("State") or {}
    said = f"exit code {state.get('ExitCode')}, finished {state.get('FinishedAt', '?')}"
    if state.get("Error"):
        said += f", {state['Error']}"
    fix = (
        f"`labkit lab start {lab.name}` starts the stopped nodes in order and waits until "
        f"Ready; `docker logs --tail 30 {node.container.name}` shows how it ended"
    )
    what = "load balancer" if node.role == ROLE_LOAD_BALANCER else "node container"
    kind = "container" if node.role == ROLE_LOAD_BALANCER else "node"
    return Problem(f"{kind}/{node.name}", f"{what} {node.name} is {status} ({said})", fix)


def kubeconfig_server(lab: Lab) -> tuple[str, str] | None:
    """(cluster name, server) of the lab's kubeconfig, None without one."""
    if not lab.kubeconfig.exists():
        return None
    clusters = (yaml.safe_load(lab.kubeconfig.read_text()) or {}).get("clusters") or []
    if not clusters:
        return None
    return str(clusters[0].get("name")), str((clusters[0].get("cluster") or {}).get("server"))


def published_api_port(node: Node) -> int | None:
    try:
        return node.published_api_port()
    except (IndexError, KeyError, TypeError):  # a stopped container publishes nothing
        return None


def kubeconfig_port_mismatch(lab: Lab) -> Problem | None:
    """The lab's kubeconfig names another port than the one Docker publishes 6443 on: a
    restarted container gets a new random host port, the kubeconfig keeps the old one."""
    named = kubeconfig_server(lab)
    published = published_api_port(lab.api_front)
    if named is None or published is None:
        return None
    cluster, server = named
    if urlsplit(server).port == published:
        return None
    return Problem(
        "api",
        f"the lab's kubeconfig points at {server}, but Docker publishes the control "
        f"plane's {API_SERVER_PORT}/tcp on 127.0.0.1:{published} (a restarted container "
        "gets a new port)",
        f"point the kubeconfig at it: `kubectl config set-cluster {cluster} "
        f"--server=https://127.0.0.1:{published} --kubeconfig {lab.kubeconfig}` (or edit "
        "the `server:` line of that file)",
    )


def api_server_problem(lab: Lab, what: str, api_error: str) -> Problem:
    """Why the API server does not answer, from the control plane's container runtime."""
    control_plane = lab.control_plane

    def on_cp(command: str) -> str:
        return f"`labkit lab exec {lab.name} {control_plane.name} -- {command}`"

    head = f"{what} does not answer ({api_error})"
    runtime, runtime_error = read_runtime(control_plane)
    if runtime is None:
        return Problem(
            "api",
            f"{head}, nor does the container runtime on {control_plane.name}: {runtime_error}",
            f"check containerd: {on_cp('systemctl status containerd')}",
        )
    for component in _API_COMPONENTS:
        # crictl lists the newest container first.
        containers = [c for c in runtime if c.name == component]
        manifest = manifest_path(component)
        if not containers:
            return Problem(
                "api",
                f"{head}: no {component} container runs",
                f"when {manifest} changes, the kubelet removes the old container and starts a "
                f"new one within seconds: wait (`labkit check {lab.name} --wait 120`); if none "
                f"comes, the kubelet cannot use that file: check it and "
                f"{on_cp('journalctl -u kubelet -n 100')}",
            )
        current = containers[0]
        if not current.running:
            looping = "crash-looping" if current.attempt > 0 else "exited and not restarted yet"
            return Problem(
                "api",
                f"{head}: {component} is {looping} (attempt {current.attempt}); its log "
                f"says: {last_log_reason(control_plane, current.id)}",
                f"its flags are in {manifest} (the kubelet restarts it when the file "
                f"changes); its whole log: {on_cp(f'crictl logs {current.id[:13]}')}",
            )
    apiserver = next(c for c in runtime if c.name == "kube-apiserver")
    state = (
        f"was restarted (attempt {apiserver.attempt}) and is not ready yet"
        if apiserver.attempt
        else "runs but is not ready: it is starting, or stopping to be restarted"
    )
    return Problem(
        "api",
        f"{head}: kube-apiserver {state}; its log says: "
        f"{last_log_reason(control_plane, apiserver.id)}",
        f"wait for it (`labkit check {lab.name} --wait 120` waits until it answers); if it "
        f"keeps restarting, its flags are in {manifest_path('kube-apiserver')} and "
        f"{on_cp(f'crictl logs {apiserver.id[:13]}')} says why",
    )


def last_log_reason(node: Node, container_id: str) -> str:
    """The last error line of a CRI container's log tail, else its last line."""
    try:
        result = node.exec(
            ["crictl", "logs", "--tail", str(_LOG_LINES), container_id],
            timeout=CRICTL_TIMEOUT,
            check=False,
        )
    except Exception as error:  # evidence is best effort: say why there is none
        return f"(no log: {failure_reason(error)})"
    # klog writes to stderr, a flag error goes to stdout with the usage after it.
    lines = [line.strip() for line in (result.stdout + result.stderr).splitlines()]
    lines = [line for line in lines if line]
    errors = [line for line in lines if _ERROR_LINE.search(line)]
    chosen = (errors or lines or ["(an empty log)"])[-1]
    return _KLOG_PREFIX.sub("", chosen)[:300]
