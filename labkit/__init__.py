"""labkit: multi-node Kubernetes labs in Docker containers, brought up by kubeadm.

    from labkit import Lab, LabSpec
    lab = Lab.up(LabSpec.from_dict({"name": "demo", "workers": 2})).lab
    assert not lab.check().failures

`Lab`, `LabkitHost` and `LabSpec` are imported on first use, so that `import labkit.errors`
(and the CLI's start) does not load the Docker and Kubernetes clients.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from labkit.errors import LabkitError, StepFailed

if TYPE_CHECKING:
    from labkit.facade import Lab
    from labkit.labkit_host import LabkitHost
    from labkit.spec import LabSpec

_LAZY = {"Lab": "labkit.facade", "LabkitHost": "labkit.labkit_host", "LabSpec": "labkit.spec"}

__all__ = ["Lab", "LabSpec", "LabkitError", "LabkitHost", "StepFailed"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'labkit' has no attribute {name!r}")
