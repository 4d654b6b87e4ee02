"""Parsing and validating a lab spec: YAML (camelCase keys; examples/lab.yaml documents
them all) or a dict, into a `LabSpec`, before anything is created.

Every problem is a `LabkitError` whose message starts with the source and names the full
path of the field, what was wrong and what is accepted.

>>> spec_from_dict({"workers": 11}, source="lab.yaml")
Traceback (most recent call last):
labkit.errors.LabkitError: lab.yaml: workers: 11 is out of range; expected 0 to 10
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from labkit.constants import SUBNET_POOL
from labkit.errors import LabkitError

# The defaults, limits and choices a user sees (the CLI shows them too) read as `spec.X`,
# apart from the kubeadm limits below that only parsing knows.
from labkit.spec import node_options
from labkit.spec import types as spec
from labkit.spec.fields import _at, _FieldError, _fields, _get, _type_error, shown
from labkit.spec.image_reference import image_reference_problem
from labkit.spec.source import read_spec_data
from labkit.spec.types import Binaries, LabSpec, Networking, NodeOverride, NodeSpec, Patches
from labkit.versions import DEFAULT_KUBERNETES_VERSION, MAX_KUBELET_SKEW, KubernetesVersion
from labkit.yamldata import freeze

_TOP_FIELDS = (
    "name",
    "kubernetesVersion",
    "image",
    "controlPlanes",
    "workers",
    "cni",
    "registry",
    "networking",
    "kubeadm",
    "nodes",
    "ignorePreflightErrors",
    "binaries",
    "init",
    "resources",
)
_NETWORKING_FIELDS = ("podSubnet", "serviceSubnet", "dnsDomain")
_NODE_FIELDS = (
    "kubeadm",
    "ignorePreflightErrors",
    "kubernetesVersion",
    "resources",
    "extraPortMappings",
    "extraMounts",
)
_BINARY_FIELDS = ("kubeadm", "kubelet")
# Matched whole (fullmatch): `$` would let a trailing newline through into hostnames,
# container names and haproxy's config lines.
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
# Docker's own networks: a lab's network is named after the lab.
_DOCKER_NETWORKS = ("bridge", "host", "none")
# Where a pod or service subnet would take addresses the host or Docker routes elsewhere.
_UNUSABLE_SUBNETS = (
    (SUBNET_POOL, "the pool labkit takes lab networks from"),
    (ipaddress.ip_network("0.0.0.0/8"), "'this network' (0.0.0.0/8)"),
    (ipaddress.ip_network("127.0.0.0/8"), "loopback (127.0.0.0/8)"),
    (ipaddress.ip_network("169.254.0.0/16"), "link-local (169.254.0.0/16)"),
    (ipaddress.ip_network("224.0.0.0/4"), "multicast (224.0.0.0/4)"),
    (ipaddress.ip_network("240.0.0.0/4"), "reserved (240.0.0.0/4)"),
)
# kube-controller-manager gives each node a /24 of the pod subnet by default, and kubeadm
# refuses a pod subnet more than 16 bits wider than that (PodSubnetNodeMaskMaxDiff).
_NODE_CIDR_PREFIX = 24
_MAX_NODE_MASK_DIFF = 16
# kubeadm: at most 20 host bits (MaximumBitsForServiceSubnet), at least 10 addresses.
_SERVICE_PREFIXES = (12, 28)
# v1beta4 turned these from maps into lists of {name, value}; a v1beta3 habit fails late.
_ARG_LISTS = ("extraArgs", "kubeletExtraArgs")


def spec_from_file(path: str | os.PathLike[str]) -> LabSpec:
    source = str(path)
    file = Path(path).expanduser()
    data = read_spec_data(file, source)
    return spec_from_dict(data, source=source, base_dir=file.parent)


def spec_from_dict(data: Any, *, source: str = "lab spec", base_dir: Path | None = None) -> LabSpec:
    """Validate camelCase `data`; relative `binaries` paths are taken from `base_dir`."""
    try:
        return _parse({} if data is None else data, source, base_dir or Path.cwd())
    except (_FieldError, LabkitError) as error:
        raise LabkitError(f"{source}: {error}") from None


def _parse(data: Any, source: str, base_dir: Path) -> LabSpec:
    top = _fields(data, "", _TOP_FIELDS)
    name = _lab_name(_get(top, "name", str, spec.DEFAULT_NAME))
    version = _get(top, "kubernetesVersion", str, DEFAULT_KUBERNETES_VERSION)
    control_planes = _control_planes(_get(top, "controlPlanes", int, 1))
    workers = _get(top, "workers", int, 0)
    if not 0 <= workers <= spec.MAX_WORKERS:
        raise _FieldError("workers", f"{workers} is out of range; expected 0 to {spec.MAX_WORKERS}")
    nodes = spec.node_specs(name, control_planes, workers)
    image = _get(top, "image", str, None)
    if image is not None and (problem := image_reference_problem(image)):
        raise _FieldError("image", f"{shown(image)} {problem}")
    lab_version = KubernetesVersion.parse(version, field="kubernetesVersion")
    return LabSpec(
        name=name,
        kubernetes_version=lab_version,
        image=image,
        control_planes=control_planes,
        workers=workers,
        cni=_choice(top, "cni", spec.CNI_CHOICES),
        registry=_choice(top, "registry", spec.REGISTRY_CHOICES),
        networking=_networking(top.get("networking"), len(nodes)),
        kubeadm=_patches(top.get("kubeadm"), "kubeadm"),
        nodes=_node_overrides(top.get("nodes"), nodes, lab_version, base_dir),
        ignore_preflight_errors=_strings(top.get("ignorePreflightErrors"), "ignorePreflightErrors"),
        binaries=_binaries(top.get("binaries"), base_dir),
        init=_choice(top, "init", spec.INIT_MODES),
        resources=node_options.parse_resources(top.get("resources"), "resources"),
        source=source,
    )


def _choice(data: Mapping[str, Any], key: str, choices: tuple[str, ...]) -> str:
    value = _get(data, key, str, choices[0])
    if value not in choices:
        expected = ", ".join(choices)
        raise _FieldError(key, f"{shown(value)} is not supported; expected one of {expected}")
    return value


def _strings(value: Any, path: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _type_error(path, "a list of strings", value)
    for index, item in enumerate(value):
        if not isinstance(item, str) or not item:
            raise _type_error(f"{path}[{index}]", "a non-empty string", item)
    return tuple(value)


def _lab_name(name: str) -> str:
    if not _DNS_LABEL.fullmatch(name):
        raise _FieldError(
            "name",
            f"{shown(name)} is not a lowercase DNS label: use a-z, 0-9 and '-', "
            "starting and ending with a letter or digit (it prefixes node hostnames "
            "and container names)",
        )
    if len(name) > spec.MAX_NAME_LENGTH:
        raise _FieldError(
            "name",
            f"{shown(name)} is {len(name)} characters long; use at most "
            f"{spec.MAX_NAME_LENGTH} so that '<name>-control-plane' stays a valid "
            "63-character hostname",
        )
    if name in _DOCKER_NETWORKS:
        raise _FieldError(
            "name",
            f"{name!r} is one of Docker's own networks ({', '.join(_DOCKER_NETWORKS)}), and a "
            "lab's network is named after the lab; choose another name",
        )
    return name


def _control_planes(count: int) -> int:
    if count in spec.CONTROL_PLANE_COUNTS:
        return count
    expected = ", ".join(map(str, spec.CONTROL_PLANE_COUNTS))
    if count > 1 and count % 2 == 0:
        raise _FieldError(
            "controlPlanes",
            f"{count} is even: etcd, one member per control plane, needs a quorum of "
            f"{spec.etcd_quorum(count)} and so tolerates {count - spec.etcd_quorum(count)} "
            "lost, no more than "
            f"{count - 1} members; expected {expected}",
        )
    raise _FieldError("controlPlanes", f"{count} is not supported; expected {expected}")


def _networking(data: Any, node_count: int) -> Networking:
    section = _fields(data, "networking", _NETWORKING_FIELDS)
    pod = _ipv4_cidr(
        _get(section, "podSubnet", str, spec.DEFAULT_POD_SUBNET, "networking"),
        "networking.podSubnet",
    )
    service = _ipv4_cidr(
        _get(section, "serviceSubnet", str, spec.DEFAULT_SERVICE_SUBNET, "networking"),
        "networking.serviceSubnet",
    )
    domain = _get(section, "dnsDomain", str, spec.DEFAULT_DNS_DOMAIN, "networking")
    per_node = _NODE_CIDR_PREFIX
    widest, narrowest = per_node - _MAX_NODE_MASK_DIFF, per_node - (node_count - 1).bit_length()
    if not widest <= pod.prefixlen <= narrowest:
        raise _FieldError(
            "networking.podSubnet",
            f"{pod} must be between /{widest} and "
            f"/{narrowest}: each of the {node_count} nodes gets a /{per_node}",
        )
    low, high = _SERVICE_PREFIXES
    if not low <= service.prefixlen <= high:
        raise _FieldError(
            "networking.serviceSubnet",
            f"{service} must be between /{low} and /{high} (a kubeadm limit)",
        )
    for network, path in ((pod, "networking.podSubnet"), (service, "networking.serviceSubnet")):
        _check_usable(network, path)
    if pod.overlaps(service):
        raise _FieldError(
            "networking",
            f"podSubnet {pod} and serviceSubnet {service} overlap; give them disjoint ranges",
        )
    if len(domain) > 253 or not all(_DNS_LABEL.fullmatch(label) for label in domain.split(".")):
        raise _FieldError(
            "networking.dnsDomain",
            f"{shown(domain)} is not a lowercase DNS domain such as cluster.local",
        )
    return Networking(str(pod), str(service), domain)


def _ipv4_cidr(text: str, path: str) -> ipaddress.IPv4Network:
    expected = "expected an IPv4 CIDR such as 10.244.0.0/16 (IPv6 is not supported)"
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise _FieldError(path, f"{shown(text)} is not a CIDR; {expected}") from None
    if not isinstance(network, ipaddress.IPv4Network) or "/" not in text:
        raise _FieldError(path, f"{shown(text)} is not an IPv4 CIDR; {expected}")
    if str(network) == text:
        return network
    if ipaddress.ip_address(text.split("/", 1)[0]) != network.network_address:
        raise _FieldError(path, f"{shown(text)} has host bits set; did you mean {network}?")
    # 10.0.0.0/255.255.0.0 or 10.0.0.0/0.0.255.255: a netmask, not a prefix length.
    raise _FieldError(path, f"{shown(text)}: write it as an address and a prefix length: {network}")


def _check_usable(network: ipaddress.IPv4Network, path: str) -> None:
    for unusable, what in _UNUSABLE_SUBNETS:
        if network.overlaps(unusable):
            raise _FieldError(
                path,
                f"{network} overlaps {what}; choose a private range such as "
                f"{spec.DEFAULT_POD_SUBNET} or {spec.DEFAULT_SERVICE_SUBNET}",
            )


def _patches(data: Any, path: str) -> Patches:
    patches = {}
    for kind, patch in _fields(data, path, spec.PATCH_KINDS).items():
        where = _at(path, kind)
        if not isinstance(patch, Mapping):
            raise _type_error(where, "a mapping to merge into the document", patch)
        for key in ("apiVersion", "kind"):
            if key in patch:
                raise _FieldError(_at(where, key), "labkit sets it; leave it out of the patch")
        _check_arg_lists(patch, where)
        patches[kind] = freeze(patch)
    return MappingProxyType(patches)


def _check_arg_lists(value: Any, path: str) -> None:
    items = (
        value.items()
        if isinstance(value, Mapping)
        else (enumerate(value) if isinstance(value, list) else ())
    )
    for key, item in items:
        where = f"{path}[{key}]" if isinstance(key, int) else _at(path, key)
        if key in _ARG_LISTS and not isinstance(item, list):
            raise _FieldError(
                where,
                "kubeadm v1beta4 takes a list of {name, value}, not "
                f"{'a mapping' if isinstance(item, Mapping) else shown(item)}, "
                "e.g. [{name: v, value: '4'}]",
            )
        _check_arg_lists(item, where)


def _node_overrides(
    data: Any, nodes: list[NodeSpec], lab_version: KubernetesVersion, base_dir: Path
) -> Mapping[str, NodeOverride]:
    by_name = {node.name: node for node in nodes}
    if data is not None and not isinstance(data, Mapping):
        raise _type_error("nodes", "a mapping from node name to overrides", data)
    overrides = {}
    for name, value in (data or {}).items():
        path = _at("nodes", name)
        if name not in by_name:
            raise _FieldError(path, f"no such node in this lab; the nodes are {', '.join(by_name)}")
        entry = _fields(value, path, _NODE_FIELDS)
        patches = _patches(entry.get("kubeadm"), f"{path}.kubeadm")
        own = spec.NODE_PATCH_KINDS[by_name[name].role]
        for kind in patches:
            if kind != own:
                raise _FieldError(
                    f"{path}.kubeadm.{kind}",
                    f"{kind} is shared by the whole "
                    "cluster (kubeadm uploads it to a ConfigMap), so patch it in "
                    f"the top-level kubeadm; a node override may only patch {own}",
                )
        ignored = _strings(entry.get("ignorePreflightErrors"), f"{path}.ignorePreflightErrors")
        version = _node_version(entry, path, by_name[name], lab_version)
        overrides[name] = NodeOverride(
            kubeadm=patches,
            ignore_preflight_errors=ignored,
            kubernetes_version=version,
            resources=node_options.parse_resources(entry.get("resources"), f"{path}.resources"),
            extra_port_mappings=node_options.parse_port_mappings(
                entry.get("extraPortMappings"), f"{path}.extraPortMappings"
            ),
            extra_mounts=node_options.parse_mounts(
                entry.get("extraMounts"), f"{path}.extraMounts", base_dir
            ),
        )
    node_options.check_host_ports_distinct(
        [
            (f"nodes.{name}.extraPortMappings[{index}]", mapping)
            for name, override in overrides.items()
            for index, mapping in enumerate(override.extra_port_mappings)
        ]
    )
    return MappingProxyType(overrides)


def _node_version(
    entry: Mapping[str, Any], path: str, node: NodeSpec, lab_version: KubernetesVersion
) -> KubernetesVersion | None:
    """A worker's own release (an older kubelet), within the upstream version skew policy:
    a kubelet may be up to three minors older than the API server, never newer."""
    text = _get(entry, "kubernetesVersion", str, None, path)
    if text is None:
        return None
    field = f"{path}.kubernetesVersion"
    version = KubernetesVersion.parse(text, field=field)
    if node.is_control_plane:
        raise _FieldError(
            field,
            "control planes run the lab's kubernetesVersion; only a worker's kubelet may be "
            "older (change a running lab's release with `labkit lab upgrade`)",
        )
    if version.minor > lab_version.minor:
        raise _FieldError(
            field,
            f"{version} is newer than the API server's {lab_version}; the version skew "
            "policy never allows a kubelet newer than the API server",
        )
    if lab_version.minor - version.minor > MAX_KUBELET_SKEW:
        raise _FieldError(
            field,
            f"{version} is {lab_version.minor - version.minor} minors older than the API "
            f"server's {lab_version}; the version skew policy allows a kubelet at most "
            f"{MAX_KUBELET_SKEW} minors older",
        )
    return version


def _binaries(data: Any, base_dir: Path) -> Binaries:
    section = _fields(data, "binaries", _BINARY_FIELDS)
    paths: dict[str, Path] = {}
    for key in _BINARY_FIELDS:
        text = _get(section, key, str, None, "binaries")
        if text is None:
            continue
        path = (base_dir / Path(text).expanduser()).absolute()
        if not path.is_file():
            raise _FieldError(
                f"binaries.{key}",
                f"{path} does not exist or is not a file; build {key} first or fix the path",
            )
        if not os.access(path, os.X_OK):
            raise _FieldError(f"binaries.{key}", f"{path} is not executable; chmod +x it")
        paths[key] = path
    return Binaries(**paths)
