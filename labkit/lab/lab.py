"""A lab: the containers, network, volumes and state of one cluster, found by labels."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import docker
import docker.errors
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from labkit.errors import LabkitError
from labkit.lab.load_balancer import find_load_balancer
from labkit.lab.network import LabAddresses
from labkit.lab.node import Node, find_nodes
from labkit.lab.removal import remove_labelled
from labkit.naming import LABEL_LAB, LABEL_MANAGED, state_dir

if TYPE_CHECKING:
    from labkit.checks.lab import CheckRun
    from labkit.diagnose import Diagnosis, LabSnapshot
    from labkit.lab.lifecycle import RestartResult
    from labkit.lab.node import ExecResult
    from labkit.lab.upgrade import UpgradeResult
    from labkit.pipeline import Progress
    from labkit.suites.report import SuiteResult
    from labkit.versions import KubernetesVersion

# In a lab's state directory: its fixed addresses (LabAddresses), as `lab up` chose them.
ADDRESSES_FILE = "addresses.json"


def lab_state_dir(name: str) -> Path:
    return state_dir() / "labs" / name


def save_addresses(name: str, addresses: LabAddresses) -> None:
    path = lab_state_dir(name) / ADDRESSES_FILE
    path.write_text(json.dumps(addresses.to_dict(), indent=2))


@dataclass
class Lab:
    name: str
    client: docker.DockerClient
    nodes: list[Node]

    @classmethod
    def find(cls, client: docker.DockerClient, name: str) -> Lab:
        nodes = find_nodes(client, name)
        if not nodes:
            known = ", ".join(list_labs(client)) or "none"
            raise LabkitError(f"no lab named {name!r} (labs: {known})")
        return cls(name, client, nodes)

    @property
    def state_dir(self) -> Path:
        return lab_state_dir(self.name)

    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / "kubeconfig"

    @property
    def control_plane(self) -> Node:
        return next(n for n in self.nodes if n.is_control_plane)

    @property
    def control_planes(self) -> list[Node]:
        return [n for n in self.nodes if n.is_control_plane]

    @property
    def workers(self) -> list[Node]:
        return [n for n in self.nodes if not n.is_control_plane]

    def running_control_plane(self) -> Node:
        """The first control plane whose container runs (with several, any serves the
        API); the first control plane when none does, for its error to say so."""
        for node in self.control_planes:
            node.container.reload()
            if node.container.status == "running":
                return node
        return self.control_plane

    @property
    def load_balancer(self) -> Node | None:
        """The container in front of several control planes; None with one."""
        return find_load_balancer(self.client, self.name)

    @property
    def containers(self) -> list[Node]:
        """The nodes, then the load balancer if there is one: every container of the lab."""
        balancer = self.load_balancer
        return [*self.nodes, *([balancer] if balancer else [])]

    @property
    def api_front(self) -> Node:
        """The container publishing the API on the host: the load balancer, if any."""
        return self.load_balancer or self.control_plane

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name in (name, f"{self.name}-{name}"):
                return node
        names = ", ".join(n.name for n in self.nodes)
        raise LabkitError(f"lab {self.name!r} has no node {name!r} (nodes: {names})")

    def api_client(self) -> k8s.ApiClient:
        """A client of this lab's API only: never the process-wide kubeconfig."""
        if not self.kubeconfig.exists():
            raise LabkitError(
                f"lab {self.name!r} has no kubeconfig at {self.kubeconfig}; "
                "was it brought up by this user?"
            )
        data = yaml.safe_load(self.kubeconfig.read_text())
        return k8s_config.new_client_from_config_dict(data)

    def addresses(self) -> LabAddresses | None:
        """The addresses fixed when the lab was created; None for a lab made before labkit
        fixed them."""
        path = self.state_dir / ADDRESSES_FILE
        return LabAddresses.from_dict(json.loads(path.read_text())) if path.exists() else None

    def bringup_record(self) -> dict:
        path = self.state_dir / "bringup.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def down(self) -> None:
        delete_lab(self.client, self.name)

    # What the CLI does to a lab, as calls: `labkit lab upgrade/stop/start/load-image`,
    # `labkit check` and `labkit diagnose` are these plus printing. The modules behind them
    # import this one, hence the imports inside.

    def upgrade(
        self, to: str | KubernetesVersion, *, progress: Progress | None = None
    ) -> UpgradeResult:
        """`kubeadm upgrade` every node to release `to` (this minor or the next).

        >>> lab.upgrade(to="v1.37.2").target  # doctest: +SKIP
        """
        from labkit.lab.upgrade import upgrade_lab
        from labkit.versions import KubernetesVersion

        target = (
            to if isinstance(to, KubernetesVersion) else KubernetesVersion.parse(to, field="to")
        )
        return upgrade_lab(self, target, progress=progress)

    def stop(self, *, progress: Progress | None = None) -> RestartResult:
        """Stop the workers, then the control plane; `start` brings the lab back as it was."""
        from labkit.lab.lifecycle import stop_lab

        return stop_lab(self, progress=progress)

    def start(self, *, progress: Progress | None = None) -> RestartResult:
        """Start what is stopped, control plane first, and wait until the lab is Ready."""
        from labkit.lab.lifecycle import start_lab

        return start_lab(self, progress=progress)

    def check(self, *, strict: bool = False, wait: float = 0.0) -> CheckRun:
        """kubeadm's invariants on every node and the cluster; `run.failures` is what failed.
        `wait` gives the API server that many seconds to answer first."""
        from labkit.checks.lab import check_lab

        return check_lab(self, strict=strict, wait=wait)

    def diagnose(self) -> LabDiagnosis:
        """The likely causes of whatever is wrong, each with its fix; none when healthy."""
        from labkit.diagnose import diagnose_snapshot
        from labkit.diagnose.fetch import fetch_snapshot

        snapshot = fetch_snapshot(self)
        return LabDiagnosis(tuple(diagnose_snapshot(snapshot)), snapshot)

    def status(self) -> dict[str, Any]:
        """What `labkit lab status --json` prints: containers, the API, problems and fixes."""
        from labkit.lab.status import lab_status

        return lab_status(self)

    def export_logs(self, directory: str | Path | None = None) -> Path:
        """Every node's and the lab's logs, as `labkit lab export-logs` collects them."""
        from labkit.lab.export_logs import export_logs

        return export_logs(self, directory)

    def load_image(
        self,
        reference: str,
        nodes: Sequence[str | Node] | None = None,
        *,
        say: Callable[[str], None] = print,
    ) -> list[str]:
        """Copy an image from the host's Docker into the nodes' containerd (default: every
        node); returns the nodes that lacked it."""
        from labkit.lab.images import load_image

        targets = self.nodes if nodes is None else [self._node(n) for n in nodes]
        return load_image(self.client, reference, targets, say=say)

    def kubectl(
        self, *args: str, json: bool = False, check: bool = True, timeout: float = 60
    ) -> Any:
        """kubectl on the control plane with kubeadm's admin.conf (no kubeconfig or kubectl
        needed on the host). Returns the ExecResult, or with `json` the parsed `-o json`
        output; a failure raises ExecFailed unless `check` is False (never with `json`:
        there is nothing to parse)."""
        import json as json_module

        from labkit.lab.node import ExecFailed
        from labkit.lab.workloads import kubectl

        result: ExecResult = kubectl(
            self, *args, *(["-o", "json"] if json else []), timeout=timeout
        )
        if not result.ok and (check or json):
            raise ExecFailed(self.running_control_plane().name, result)
        return json_module.loads(result.stdout) if json else result

    def exec(
        self,
        node: str | Node,
        command: Sequence[str],
        *,
        stdin: BinaryIO | None = None,
        stdout: BinaryIO | None = None,
        stderr: BinaryIO | None = None,
        tty: bool = False,
    ) -> int:
        """Run a command on a node as `labkit lab exec` does: its streams joined to these
        files (stdout and stderr default to this process's own; no stdin unless given) and
        its output written as it comes. Returns its exit code. `Node.exec` is the call that
        captures the output instead."""
        from labkit.lab.attach import exec_attached

        return exec_attached(
            self._node(node).container,
            command,
            stdin=stdin,
            stdout=sys.stdout.buffer if stdout is None else stdout,
            stderr=sys.stderr.buffer if stderr is None else stderr,
            tty=tty,
        )

    def conformance(
        self,
        suite: str = "kubeadm",
        *,
        focus: str | Sequence[str] = (),
        skip: str | Sequence[str] = (),
        parallel: int = 1,
        report_dir: Path | None = None,
        progress: Progress | None = None,
    ) -> SuiteResult:
        """Run kubeadm's e2e suite or the Conformance suite of the lab's own release
        (built here, offline); `.failed` is what failed, `.ok` says nothing did.

        >>> lab.conformance("kubeadm").summary()  # doctest: +SKIP
        """
        from labkit.suites.run import run_suite
        from labkit.suites.suites import SuiteRequest

        request = SuiteRequest(
            suite=suite,
            focus=(focus,) if isinstance(focus, str) else tuple(focus),
            skip=(skip,) if isinstance(skip, str) else tuple(skip),
            parallel=parallel,
            report_dir=report_dir,
        )
        return run_suite(self, request, progress)

    def _node(self, node: str | Node) -> Node:
        return node if isinstance(node, Node) else self.node(node)


@dataclass(frozen=True)
class LabDiagnosis:
    """What `Lab.diagnose` found and the snapshot it read; `labkit diagnose` prints both."""

    diagnoses: tuple[Diagnosis, ...]
    snapshot: LabSnapshot

    def text(self) -> str:
        from labkit.diagnose import format_text

        return format_text(self.diagnoses, self.snapshot)

    def as_data(self) -> dict[str, Any]:
        from labkit.diagnose import as_data

        return as_data(self.diagnoses, self.snapshot)


def host_kubeconfig(admin_conf: bytes, api_port: int) -> dict:
    """kubeadm's admin.conf pointed at the API port published on the host's loopback (the
    apiserver certificate carries 127.0.0.1: the bring-up adds it to certSANs)."""
    admin = yaml.safe_load(admin_conf)
    for cluster in admin["clusters"]:
        cluster["cluster"]["server"] = f"https://127.0.0.1:{api_port}"
    return admin


def list_labs(client: docker.DockerClient) -> list[str]:
    # The low-level list: no per-container inspect that fails when another run removes
    # one of its containers between the listing and the inspect.
    names = {
        c["Labels"][LABEL_LAB]
        for c in client.api.containers(all=True, filters={"label": LABEL_LAB})
        if c["Labels"].get(LABEL_LAB)
    }
    names |= {
        n.attrs["Labels"][LABEL_LAB] for n in client.networks.list(filters={"label": LABEL_LAB})
    }
    return sorted(names)


def delete_lab(client: docker.DockerClient, name: str) -> None:
    """Remove everything labelled with this lab: containers, then volumes and network."""
    remove_labelled(client, f"{LABEL_LAB}={name}")
    shutil.rmtree(lab_state_dir(name), ignore_errors=True)


def prune(client: docker.DockerClient) -> dict[str, int]:
    """Remove every container, volume and network labkit labelled, of any lab or build."""
    removed = remove_labelled(client, f"{LABEL_MANAGED}=true")
    labs_dir = state_dir() / "labs"
    if labs_dir.exists():
        for lab_dir in labs_dir.iterdir():
            shutil.rmtree(lab_dir, ignore_errors=True)
    return removed
