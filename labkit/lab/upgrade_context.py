"""What every `lab upgrade` step works on: the lab, the target release and what the steps
before it found out. The steps live in `upgrade` and `upgrade_commands`."""

from __future__ import annotations

from dataclasses import dataclass, field

import docker
from kubernetes import client as k8s

from labkit.lab.model import LabModel
from labkit.lab.release import ReleaseMaterial
from labkit.pipeline import Progress
from labkit.versions import KubernetesVersion


@dataclass
class Upgrade:
    lab: LabModel
    target: KubernetesVersion
    progress: Progress
    api: k8s.ApiClient
    current: KubernetesVersion | None = None
    material: ReleaseMaterial | None = None
    upgraded: list[str] = field(default_factory=list)
    # Set when an earlier run to this target applied it and stopped before every node.
    resuming: bool = False

    @property
    def cni(self) -> bool:
        """Whether the lab has a CNI: without one, no node is ever Ready."""
        return self.lab.state.spec().cni != "none"

    @property
    def client(self) -> docker.DockerClient:
        return self.lab.client

    def record(self, **extra: object) -> None:
        """Which nodes run the target, for `lab status` and for whoever inspects a failure."""
        record = {
            "from": str(self.current),
            "to": str(self.target),
            "upgraded": self.upgraded,
            "pending": [n.name for n in self.lab.nodes if n.name not in self.upgraded],
            **extra,
        }
        self.lab.state.save_upgrade_record(record)
