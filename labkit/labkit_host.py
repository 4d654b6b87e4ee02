"""What labkit does on its host beyond one lab, as library calls: the CLI's host-level
commands (`doctor`, `lab list`, `lab down`, `lab prune`, `image build`, `image gomod`)
are these plus printing, and the `labkit_host` pytest fixture hands them to scenarios."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import docker

from labkit import host
from labkit.host import DoctorReport
from labkit.nodeimage.built import NodeImages
from labkit.pipeline import Progress, StepTiming, TimedResult
from labkit.versions import KubernetesVersion


@dataclass(frozen=True)
class ImageBuilt(TimedResult):
    reference: str
    timings: list[StepTiming]


@dataclass
class LabkitHost:
    # Connected on first use: `doctor` must answer when the engine does not.
    _client: docker.DockerClient | None = field(default=None, repr=False)

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            self._client = host.docker_client()
        return self._client

    def doctor(self) -> DoctorReport:
        """Can this host bring labs up: engine, privileged containers, limits, node images.
        Each check says what is wrong and what to do; none raises. `.ok` when all pass."""
        return DoctorReport(tuple(host.doctor_checks()))

    def labs(self) -> list[str]:
        """The names of the labs on this host, whoever made them."""
        from labkit.lab.model import list_labs

        return list_labs(self.client)

    def remove_lab(self, name: str) -> bool:
        """Remove a lab, whole or half made (a bring-up killed before its control plane had
        a container), as `labkit lab down` does; False when there was no such lab."""
        from labkit.lab.model import delete_lab

        if name not in self.labs():
            return False
        delete_lab(self.client, name)
        return True

    def prune(self) -> dict[str, int]:
        """Remove every container, volume and network labkit labelled, of any lab or build;
        returns how many of each kind."""
        from labkit.lab.model import prune

        return prune(self.client)

    def prune_pytest_run(self, testrunuid: str) -> list[str]:
        """Remove the labs of the pytest run started with `--testrunuid=testrunuid` alone;
        returns their names."""
        from labkit.pytest_ownership import prune_pytest_run

        return prune_pytest_run(self.client, testrunuid)

    def node_images(self) -> NodeImages:
        """The node images built on this host, newest release first, each with the version
        of every component its build recorded (containerd, runc, etcd, ...)."""
        from labkit.nodeimage.built import built_node_images

        return NodeImages(tuple(built_node_images(self.client)))

    def build_image(
        self,
        version: KubernetesVersion,
        *,
        reference: str | None = None,
        progress: Progress | None = None,
    ) -> ImageBuilt:
        """Build the node image of `version` from source, or find it up to date (a no-op
        when its inputs have not changed)."""
        from labkit.nodeimage.build import build_node_image

        built, timings = build_node_image(version, progress=progress, reference=reference)
        return ImageBuilt(built, timings)

    def build_suites(
        self,
        version: KubernetesVersion,
        suites: Sequence[str] = ("kubeadm", "conformance"),
        *,
        progress: Progress | None = None,
    ) -> list[Path]:
        """Build (or find cached) what `Lab.conformance` needs for a lab of `version`: the
        suites' binaries and the Conformance test images; returns the binaries' paths."""
        from labkit.suites.run import build_suites

        return build_suites(self.client, version, suites, progress)

    def write_go_modules(
        self, into: Path | None = None, *, log: Callable[[str], None] = print
    ) -> list[Path]:
        """Regenerate the Go modules the node image builds from, for the default versions,
        into `into` (default: labkit's committed ones, as `labkit image gomod` does)."""
        from labkit.nodeimage import gomod
        from labkit.nodeimage.gomod_update import update_committed_modules

        return update_committed_modules(log, into or gomod.COMMITTED_MODULES)
