"""`Lab`: labkit's verbs over one lab, the door the CLI, the pytest plugin and users take.

The rule: this module sits above everything it composes. `labkit.lab` (the model and what
happens to a lab's containers) and the consumers (`checks`, `diagnose`, `suites`,
`troubleshooting`) take a `LabModel` and never import this module; each verb here is one
call into one of them.

    >>> from labkit import Lab  # doctest: +SKIP
    >>> lab = Lab.up(LabSpec(name="demo")).lab  # doctest: +SKIP
    >>> lab.check().failures  # doctest: +SKIP
    []
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, BinaryIO

import docker

from labkit import diagnose
from labkit.checks import lab as checks_lab
from labkit.lab import attach, bringup, export_logs, images, lifecycle, status, upgrade, workloads
from labkit.lab.exported_logs import ExportedLogs
from labkit.lab.model import LabModel
from labkit.lab.node import ExecFailed, ExecResult, Node
from labkit.lab.push import PushResult, push_images
from labkit.pipeline import Progress
from labkit.spec import LabSpec
from labkit.suites import run as suites_run
from labkit.suites.report import SuiteResult
from labkit.suites.suites import SuiteRequest
from labkit.versions import KubernetesVersion


class Lab(LabModel):
    """labkit's verbs over one lab. It adds no state: anything that takes a LabModel takes
    a Lab."""

    @classmethod
    def up(
        cls,
        spec: LabSpec,
        *,
        client: docker.DockerClient | None = None,
        progress: Progress | None = None,
        keep_on_failure: bool = False,
        on_phase: bringup.PhaseCallback | None = None,
    ) -> bringup.BringUpResult:
        """Bring a lab up from `spec` (`labkit lab up`); `.lab` is the Lab. On a failure
        it is removed unless `keep_on_failure`."""
        result = bringup.bring_up(
            spec,
            client=client,
            progress=progress,
            keep_on_failure=keep_on_failure,
            on_phase=on_phase,
        )
        model = result.lab
        return replace(result, lab=cls(model.name, model.client, model.nodes))

    def upgrade(
        self, to: str | KubernetesVersion, *, progress: Progress | None = None
    ) -> upgrade.UpgradeResult:
        """`kubeadm upgrade` every node to release `to` (this minor or the next).

        >>> lab.upgrade(to="v1.37.2").target  # doctest: +SKIP
        """
        target = (
            to if isinstance(to, KubernetesVersion) else KubernetesVersion.parse(to, field="to")
        )
        return upgrade.upgrade_lab(self, target, progress=progress)

    def stop(self, *, progress: Progress | None = None) -> lifecycle.RestartResult:
        """Stop the workers, then the control plane; `start` brings the lab back as it was."""
        return lifecycle.stop_lab(self, progress=progress)

    def start(self, *, progress: Progress | None = None) -> lifecycle.RestartResult:
        """Start what is stopped, control plane first, and wait until the lab is Ready."""
        return lifecycle.start_lab(self, progress=progress)

    def check(self, *, strict: bool = False, wait: float = 0.0) -> checks_lab.CheckRun:
        """kubeadm's invariants on every node and the cluster; `run.failures` is what failed.
        `wait` gives the API server that many seconds to answer first."""
        return checks_lab.check_lab(self, strict=strict, wait=wait)

    def diagnose(self) -> diagnose.LabDiagnosis:
        """The likely causes of whatever is wrong, each with its fix; none when healthy."""
        return diagnose.diagnose(self)

    def status(self) -> status.LabStatus:
        """What `labkit lab status` prints: containers, the API, problems and fixes."""
        return status.lab_status(self)

    def export_logs(self, directory: str | Path | None = None) -> ExportedLogs:
        """Every node's and the lab's logs, as `labkit lab export-logs` collects them: the
        directory (a path-like; `.path`) and `.complete`, whether all could be read."""
        return export_logs.export_logs(self, directory)

    def load_image(
        self,
        reference: str,
        nodes: Sequence[str | Node] | None = None,
        *,
        say: Callable[[str], None] = print,
    ) -> list[str]:
        """Copy an image from the host's Docker into the nodes' containerd (default: every
        node); returns the nodes that lacked it."""
        targets = self.nodes if nodes is None else [self.node(n) for n in nodes]
        return images.load_image(self.client, reference, targets, say=say)

    def push(self, *references: str, say: Callable[[str], None] = print) -> PushResult:
        """Push images from the host's Docker into the lab's registry: pods then pull them
        by their own names, with `imagePullPolicy: Always`, or as `localhost:<port>/...`."""
        return push_images(self, references, say=say)

    def kubectl(
        self, *args: str, json: bool = False, check: bool = True, timeout: float = 60
    ) -> Any:
        """kubectl on the control plane with kubeadm's admin.conf (no kubeconfig or kubectl
        needed on the host). Returns the ExecResult, or with `json` the parsed `-o json`
        output; a failure raises ExecFailed unless `check` is False (never with `json`:
        there is nothing to parse)."""
        output = ["-o", "json"] if json else []
        result: ExecResult = workloads.kubectl(self, *args, *output, timeout=timeout)
        if not result.ok and (check or json):
            raise ExecFailed(self.running_control_plane().name, result)
        return _parse_json(result.stdout) if json else result

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
        return attach.exec_attached(
            self.node(node).container,
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
        request = SuiteRequest.of(
            suite, focus=focus, skip=skip, parallel=parallel, report_dir=report_dir
        )
        return suites_run.run_suite(self, request, progress)


# `Lab.kubectl`'s `json` flag shadows the module inside the method.
_parse_json = json.loads
