"""Every CLI command meeting a Docker engine, an API server or a node container that does not
answer says what, why and what to do, exits 1, and shows a traceback only when asked.

The Docker engine is a fake; the API server is a real client pointed at a closed port, so
the errors are the ones urllib3 raises.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from urllib3.exceptions import ProtocolError

from labkit.checks import cluster_rules
from labkit.checks.findings import Finding
from labkit.cli import main
from labkit.naming import LABEL_LAB, LABEL_NODE, LABEL_ROLE

LAB = "h14-unit"
CP = f"{LAB}-control-plane"
WORKER = f"{LAB}-worker"
PUBLISHED_PORT = 40123

# Commands that each need the Docker engine first thing.
DOCKER_COMMANDS = [
    ["lab", "status", LAB],
    ["lab", "exec", LAB, "control-plane", "--", "true"],
    ["lab", "load-image", LAB, "busybox:latest"],
    ["lab", "export-logs", LAB, "{tmp}/logs"],
    ["lab", "kubeconfig", LAB],
    ["lab", "upgrade", LAB, "--to", "v1.37.2"],
    ["lab", "list"],
    ["lab", "down", LAB],
    ["check", LAB],
    ["diagnose", LAB],
]


class Unanswering:
    """A Docker client whose every call fails as docker-py does when dockerd is gone."""

    def __getattr__(self, name: str) -> Unanswering:
        return self

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        gone = FileNotFoundError(2, "No such file or directory")
        raise requests.exceptions.ConnectionError(ProtocolError("Connection aborted.", gone))


@dataclass
class FakeExecApi:
    """docker-py's low-level exec calls; `outputs` maps a command's start to its stdout."""

    outputs: dict[tuple[str, ...], str]
    run: list[tuple[str, ...]] = field(default_factory=list)

    def exec_create(self, container: str, command: list[str], **_: Any) -> dict[str, str]:
        self.run.append(tuple(command))
        return {"Id": str(len(self.run) - 1)}

    def exec_start(self, exec_id: str, **_: Any) -> Iterator[tuple[bytes | None, None]]:
        command = self.run[int(exec_id)]
        for start, stdout in self.outputs.items():
            if command[: len(start)] == start:
                yield stdout.encode(), None
                return

    def exec_inspect(self, exec_id: str) -> dict[str, Any]:
        return {"Running": False, "ExitCode": 0}


@dataclass
class FakeContainer:
    name: str
    role: str
    client: Any
    status: str = "running"
    port: int = PUBLISHED_PORT

    @property
    def id(self) -> str:
        return self.name

    @property
    def labels(self) -> dict[str, str]:
        return {LABEL_LAB: LAB, LABEL_NODE: self.name, LABEL_ROLE: self.role}

    @property
    def attrs(self) -> dict[str, Any]:
        running = self.status == "running"
        ports = {"6443/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(self.port)}]}
        return {
            "State": {"Status": self.status, "ExitCode": 0 if running else 137,
                      "FinishedAt": "2026-12-02T10:00:00Z", "Error": ""},
            "NetworkSettings": {
                "Networks": {LAB: {"IPAddress": "10.201.1.2" if running else ""}},
                "Ports": ports if running and self.role == "control-plane" else {},
            },
        }  # fmt: skip

    def reload(self) -> None:
        pass

    def logs(self, **_: Any) -> bytes:
        return b"systemd: Freezing execution.\n"


@dataclass
class FakeDocker:
    """A Docker engine that answers, holding one lab's node containers."""

    api: FakeExecApi
    containers: Any = None

    def node(self, name: str) -> FakeContainer:
        return next(c for c in self.containers.all if c.name == name)


@dataclass
class FakeContainers:
    all: list[FakeContainer]

    def list(self, filters: dict[str, Any] | None = None, **_: Any) -> list[FakeContainer]:
        """Docker's label filter: every `key=value` (or bare key) must match."""
        labels = (filters or {}).get("label", [])
        wanted = [w.split("=", 1) for w in ([labels] if isinstance(labels, str) else labels)]
        return [
            c
            for c in self.all
            if all(c.labels.get(w[0]) == w[1] if len(w) == 2 else w[0] in c.labels for w in wanted)
        ]


CRICTL_PS = {
    "containers": [
        {"id": "a" * 64, "metadata": {"name": "kube-apiserver", "attempt": 4},
         "state": "CONTAINER_EXITED"},
        {"id": "b" * 64, "metadata": {"name": "etcd", "attempt": 0},
         "state": "CONTAINER_RUNNING"},
    ]
}  # fmt: skip
APISERVER_LOG = (
    "I1202 10:00:00.000000       1 options.go:249] external host was not specified\n"
    "Error: unknown flag: --no-such-flag\n"
    "Usage:\n  kube-apiserver [flags]\n"
)


def fake_docker(
    control_plane_status: str = "running",
    worker_status: str = "running",
    port: int = PUBLISHED_PORT,
) -> Any:
    api = FakeExecApi(
        {
            ("crictl", "ps", "-a", "-o", "json"): json.dumps(CRICTL_PS),
            ("crictl", "logs"): APISERVER_LOG,
        }
    )
    docker = FakeDocker(api)
    docker.containers = FakeContainers(
        [
            FakeContainer(CP, "control-plane", docker, control_plane_status, port),
            FakeContainer(WORKER, "worker", docker, worker_status),
        ]
    )
    return docker


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LABKIT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("LABKIT_DEBUG", raising=False)
    return tmp_path / "state" / "labs" / LAB


def write_kubeconfig(state: Path, port: int) -> None:
    state.mkdir(parents=True, exist_ok=True)
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "admin",
        "clusters": [{"name": "kubernetes", "cluster": {
            "server": f"https://127.0.0.1:{port}", "insecure-skip-tls-verify": True}}],
        "users": [{"name": "admin", "user": {"token": "abcdef.0123456789abcdef"}}],
        "contexts": [{"name": "admin", "context": {"cluster": "kubernetes", "user": "admin"}}],
    }  # fmt: skip
    (state / "kubeconfig").write_text(yaml.safe_dump(config))


def use_docker(monkeypatch: pytest.MonkeyPatch, docker: Any) -> None:
    monkeypatch.setattr("labkit.host.docker_client", lambda *args, **kwargs: docker)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


@pytest.mark.parametrize("argv", DOCKER_COMMANDS, ids=lambda argv: " ".join(argv[:2]))
def test_a_docker_engine_that_does_not_answer(
    argv: list[str],
    state: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    use_docker(monkeypatch, Unanswering())
    monkeypatch.setenv("DOCKER_HOST", "unix:///run/h14-unit.sock")
    code, _, err = run([arg.format(tmp=tmp_path) for arg in argv], capsys)
    assert code == 1
    assert err.startswith(
        "labkit: the Docker engine at unix:///run/h14-unit.sock does not answer: "
        "FileNotFoundError: [Errno 2] No such file or directory\n"
    )
    assert "  what to do: start it (`make host`" in err


def test_no_docker_engine_at_all(
    state: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///run/h14-unit.sock")
    code, _, err = run(["lab", "status", LAB], capsys)
    assert code == 1
    assert err.startswith(
        "labkit: the Docker engine at unix:///run/h14-unit.sock does not answer: "
        "FileNotFoundError: [Errno 2] No such file or directory\n"
    )


def test_check_without_the_api_reports_the_node_findings_and_not_checked_rules(
    state: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use_docker(monkeypatch, fake_docker())
    port = closed_port()
    write_kubeconfig(state, port)
    flag = Finding(
        "manifests.flags",
        CP,
        "/etc/kubernetes/manifests/kube-apiserver.yaml",
        "--authorization-mode=Node,RBAC",
        "--authorization-mode=AlwaysAllow",
    )
    # The node's side: what reading its files would give, without a real node.
    fakes: dict[str, Callable[..., Any]] = {
        "read_node": lambda node: node.name,
        "kubeadm_stdout": lambda node, command: "",
        "lab_config": lambda *args: None,
        "node_context": lambda config, artifacts, address: artifacts,
        "check_node": lambda artifacts, context, strict: [flag] if artifacts == CP else [],
        "cluster_context": lambda *args: None,
        "check_nodes": lambda artifacts, context, strict: [],
    }
    for name, fake in fakes.items():
        monkeypatch.setattr(f"labkit.checks.lab.{name}", fake)

    code, out, _ = run(["check", LAB], capsys)
    assert code == 1
    rows = out.splitlines()
    server = f"https://127.0.0.1:{port}"
    reason = f"the API server at {server} does not answer: ConnectionRefusedError"
    assert rows[1].split()[:4] == ["ERROR", str(len(cluster_rules())), "rules", "(--rules"]
    assert f"not checked: {reason}" in rows[1]
    assert rows[2].split()[:3] == ["FAIL", "manifests.flags", CP]
    assert f"1 failures, 0 known, {len(cluster_rules())} not checked" in rows[3]
    assert rows[4].startswith(f"the cluster rules were not checked: {reason}")
    assert f"`labkit check {LAB} --wait 120` waits for the API server" in rows[4]

    code, out, err = run(["check", LAB, "--json"], capsys)
    findings = json.loads(out)
    assert code == 1
    assert {f["rule_id"] for f in findings if f["status"] == "error"} == {
        rule.id for rule in cluster_rules()
    }
    assert [f["rule_id"] for f in findings if f["status"] == "fail"] == ["manifests.flags"]
    assert "not checked" in err

    code, out, _ = run(["check", LAB, "--rules"], capsys)
    results = {line.split()[0]: line.split()[1] for line in out.splitlines()[1:]}
    assert results["manifests.flags"] == "FAIL" and results["cluster.cluster-info"] == "ERROR"
    assert results["pki.ca-constraint"] == "PASS"


def test_check_wait_gives_up_with_the_reason(
    state: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from labkit.checks.lab import read_cluster
    from labkit.facade import Lab

    monkeypatch.setattr("labkit.lab.api.API_PROBE_INTERVAL", 0.05)
    port = closed_port()
    write_kubeconfig(state, port)
    lab = Lab.find(fake_docker(), LAB)  # type: ignore[arg-type]
    reason = read_cluster(lab, wait=0.2)
    assert isinstance(reason, str)
    assert reason.startswith(f"the API server at https://127.0.0.1:{port} does not answer after")


def test_status_says_the_api_server_crash_loops_and_why(
    state: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    port = closed_port()
    docker = fake_docker(port=port)
    use_docker(monkeypatch, docker)
    write_kubeconfig(state, port)
    code, out, _ = run(["lab", "status", LAB], capsys)
    assert code == 1
    assert "API unreachable" in out
    problem = next(line.strip() for line in out.splitlines() if line.strip().startswith("api:"))
    assert problem.startswith(
        f"api: the API server at https://127.0.0.1:{port} does not answer "
        "(ConnectionRefusedError: [Errno 111] Connection refused): "
    )
    assert problem.endswith(
        "kube-apiserver is not running: crash-looping (attempt 4); its log says: "
        "Error: unknown flag: "
        "--no-such-flag"
    )
    assert ("crictl", "logs", "--tail", "40", "a" * 64) in docker.api.run
    assert "what to do: its flags are in /etc/kubernetes/manifests/kube-apiserver.yaml" in out


def test_status_and_kubeconfig_see_a_kubeconfig_pointing_at_another_port(
    state: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use_docker(monkeypatch, fake_docker())
    old = closed_port()
    write_kubeconfig(state, old)
    code, out, _ = run(["lab", "status", LAB, "--json"], capsys)
    status = json.loads(out)
    assert code == 1 and status["api"]["answers"] is False
    [problem] = status["problems"]
    assert problem["problem"] == (
        f"the lab's kubeconfig points at https://127.0.0.1:{old}, but Docker publishes the "
        f"control plane's 6443/tcp on 127.0.0.1:{PUBLISHED_PORT} (a restarted container gets "
        "a new port)"
    )
    assert problem["fix"] == (
        f"point the kubeconfig at it: `kubectl config set-cluster kubernetes "
        f"--server=https://127.0.0.1:{PUBLISHED_PORT} --kubeconfig {state / 'kubeconfig'}` "
        "(or edit the `server:` line of that file)"
    )
    code, out, err = run(["lab", "kubeconfig", LAB], capsys)
    assert code == 0 and out.strip() == str(state / "kubeconfig")
    assert err.startswith(f"warning: the lab's kubeconfig points at https://127.0.0.1:{old}")


@pytest.mark.parametrize(
    "argv",
    [
        ["check", LAB],
        ["lab", "exec", LAB, "worker", "--", "true"],
        ["lab", "load-image", LAB, "busybox:latest"],
        ["lab", "upgrade", LAB, "--to", "v1.37.2"],
    ],
    ids=lambda argv: " ".join(argv[:2]),
)
def test_a_stopped_node_container(
    argv: list[str],
    state: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    use_docker(monkeypatch, fake_docker(worker_status="exited"))
    write_kubeconfig(state, closed_port())
    code, _, err = run(argv, capsys)
    assert code == 1
    assert err.splitlines() == [
        f"labkit: lab '{LAB}': a node container is not running: node container {WORKER} is "
        "exited (exit code 137, finished 2026-12-02T10:00:00Z)",
        f"  what to do: `labkit lab start {LAB}`, then run this again; `docker logs --tail 30 "
        f"{WORKER}` shows how it ended",
    ]


def test_status_names_a_stopped_node_and_the_fix(
    state: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use_docker(monkeypatch, fake_docker(control_plane_status="exited"))
    write_kubeconfig(state, closed_port())
    code, out, _ = run(["lab", "status", LAB], capsys)
    assert code == 1
    assert f"node/{CP}: node container {CP} is exited (exit code 137" in out
    assert f"what to do: `labkit lab start {LAB}` starts the stopped nodes" in out


def test_an_api_server_that_does_not_answer_mid_command(
    state: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from labkit.pipeline import Progress

    use_docker(monkeypatch, fake_docker())
    # Progress's default stream is the sys.stderr of import time, closed by now under capsys.
    monkeypatch.setattr("labkit.lab.upgrade.Progress", lambda: Progress(quiet=True))
    write_kubeconfig(state, closed_port())
    code, _, err = run(["lab", "upgrade", LAB, "--to", "v1.37.2"], capsys)
    assert code == 1
    assert "ConnectionRefusedError" in err
    assert f"what to do: `labkit lab status {LAB}` says why" in err


def test_diagnose_without_the_api_diagnoses(
    state: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use_docker(monkeypatch, fake_docker())
    write_kubeconfig(state, closed_port())
    code, out, _ = run(["diagnose", LAB], capsys)
    assert code == 1
    assert "the lab's API server does not answer: kube-apiserver is not running" in out


@pytest.mark.parametrize("how", [["--debug", "check", LAB], ["check", LAB, "--debug"], "env"])
def test_the_traceback_when_asked(
    how: Any,
    state: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    use_docker(monkeypatch, Unanswering())
    if how == "env":
        monkeypatch.setenv("LABKIT_DEBUG", "1")
        how = ["check", LAB]
    assert main(how) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):")
    assert "requests.exceptions.ConnectionError" in err
    assert "labkit: the Docker engine at" in err


def test_a_bug_keeps_its_traceback(state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr("labkit.host.docker_client", broken)
    with pytest.raises(ZeroDivisionError):
        main(["check", LAB])


def test_failure_reasons_are_one_line_and_name_the_underlying_error() -> None:
    import ssl

    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import MaxRetryError, NewConnectionError, SSLError

    from labkit.lab.api import failure_reason

    eof = ssl.SSLEOFError(8, "[SSL: UNEXPECTED_EOF_WHILE_READING] EOF occurred (_ssl.c:1006)")
    assert failure_reason(MaxRetryError(None, "/api/v1/nodes", SSLError(eof))) == (
        "SSLEOFError: [SSL: UNEXPECTED_EOF_WHILE_READING] EOF occurred (_ssl.c:1006)"
    )
    refused = ConnectionRefusedError(111, "Connection refused")
    try:
        try:
            raise refused
        except OSError as error:
            message = "HTTPSConnection(host='127.0.0.1', port=1): Failed to establish"
            raise NewConnectionError(None, message) from error
    except NewConnectionError as wrapped:
        retried = MaxRetryError(None, "/readyz", wrapped)
    assert failure_reason(retried) == "ConnectionRefusedError: [Errno 111] Connection refused"

    unavailable = ApiException(status=503, reason="Service Unavailable")
    unavailable.body = json.dumps({"kind": "Status", "message": "the server is\nstarting"})
    assert failure_reason(unavailable) == "HTTP 503 Service Unavailable: the server is starting"
    not_ready = ApiException(status=500, reason="Internal Server Error")
    not_ready.body = "[+]ping ok\n[-]etcd failed: reason withheld\nreadyz check failed\n"
    assert failure_reason(not_ready) == (
        "HTTP 500 Internal Server Error: [-]etcd failed: reason withheld"
    )


def test_a_reader_that_goes_away_ends_the_command_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    import labkit.cli

    def write_to_a_closed_pipe(args: object) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(labkit.cli.version, "run", write_to_a_closed_pipe)
    assert labkit.cli.main(["--version"]) == 141
    assert "Traceback" not in capfd.readouterr().err
