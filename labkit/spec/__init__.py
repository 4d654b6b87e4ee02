"""The lab spec: what a user asks for, validated before anything is created.

Split as kind splits its config: `types` holds the frozen dataclasses and their defaults,
`parse` reads YAML or a dict into them and says precisely what is wrong when it cannot.

>>> from labkit.spec import LabSpec
>>> LabSpec.from_dict({"workers": 1}).node_names()[1].name
'labkit-worker'
"""

from __future__ import annotations

from labkit.spec.parse import spec_from_dict, spec_from_file
from labkit.spec.types import (
    CNI_CHOICES,
    CONTROL_PLANE_COUNTS,
    DEFAULT_DNS_DOMAIN,
    DEFAULT_NAME,
    DEFAULT_POD_SUBNET,
    DEFAULT_SERVICE_SUBNET,
    INIT_MODES,
    MAX_NAME_LENGTH,
    MAX_WORKERS,
    NODE_PATCH_KINDS,
    PATCH_KINDS,
    REGISTRY_CHOICES,
    Binaries,
    HostMount,
    LabSpec,
    Networking,
    NodeOverride,
    NodeSpec,
    Patches,
    PortMapping,
    Resources,
    etcd_quorum,
    node_specs,
)

# labkit.kubeadm.config has always taken thaw from here, next to the spec it thaws.
from labkit.yamldata import thaw

__all__ = [
    "CNI_CHOICES",
    "CONTROL_PLANE_COUNTS",
    "DEFAULT_DNS_DOMAIN",
    "DEFAULT_NAME",
    "DEFAULT_POD_SUBNET",
    "DEFAULT_SERVICE_SUBNET",
    "INIT_MODES",
    "MAX_NAME_LENGTH",
    "MAX_WORKERS",
    "NODE_PATCH_KINDS",
    "PATCH_KINDS",
    "REGISTRY_CHOICES",
    "Binaries",
    "HostMount",
    "LabSpec",
    "Networking",
    "NodeOverride",
    "NodeSpec",
    "Patches",
    "PortMapping",
    "Resources",
    "etcd_quorum",
    "node_specs",
    "spec_from_dict",
    "spec_from_file",
    "thaw",
]
