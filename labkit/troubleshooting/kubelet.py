"""How long the control plane tolerates a silent kubelet, read from the flags that run.

>>> node_monitor_grace_period(lab)  # kube-controller-manager's flag, or its default
50.0
"""

from __future__ import annotations

import re

import yaml

from labkit.constants import manifest_path
from labkit.errors import LabkitError
from labkit.goduration import go_duration
from labkit.lab.model import LabModel

CONTROLLER_MANAGER_MANIFEST = manifest_path("kube-controller-manager")


def node_monitor_grace_period(lab: LabModel) -> float:
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
