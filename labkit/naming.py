"""Labels, names and host paths (cache, state) of everything labkit creates.

Node paths, ports and timeouts are in `labkit.constants`, versions in `labkit.versions`.
"""

from __future__ import annotations

import os
from pathlib import Path

LABEL_PREFIX = "io.labkit"
LABEL_MANAGED = f"{LABEL_PREFIX}.managed"


def managed_labels(**extra: str) -> dict[str, str]:
    """Labels for anything labkit creates, so that `labkit lab prune` finds it."""
    return {LABEL_MANAGED: "true", **extra}


# The lab a container, volume or network is part of (`lab down` removes by it), and a node
# container's role and name (`Lab.find` rebuilds the nodes from them).
LABEL_LAB = f"{LABEL_PREFIX}.lab"
LABEL_ROLE = f"{LABEL_PREFIX}.role"
LABEL_NODE = f"{LABEL_PREFIX}.node"
# What an image was built from (its inputs' key, its release): a build whose key matches is
# reused, not redone.
LABEL_INPUTS = f"{LABEL_PREFIX}.inputs"
LABEL_KUBERNETES_VERSION = f"{LABEL_PREFIX}.kubernetes-version"
# A node image's component versions, one label each (io.labkit.component.containerd=v2.4.2).
LABEL_COMPONENT_PREFIX = f"{LABEL_PREFIX}.component."

# The dockerd runtime that drops capabilities the host cannot grant (see labkit.host).
WRAPPED_RUNTIME = "labkit-runc"


def cache_dir() -> Path:
    """Build outputs, keyed by their inputs; outside the repo so clones share them."""
    base = os.environ.get("LABKIT_CACHE_DIR") or Path.home() / ".cache" / "labkit"
    return Path(base)


def state_dir() -> Path:
    """Per-lab state (kubeconfig, spec) of labs that are up."""
    base = os.environ.get("LABKIT_STATE_DIR") or Path.home() / ".local" / "state" / "labkit"
    return Path(base)
