"""Plain YAML data helpers shared by the lab spec, the kubeadm config and the plugin."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from labkit.versions import KubernetesVersion


def freeze(value: Any) -> Any:
    """A read-only deep copy of YAML data: mappings become proxies, lists tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({key: freeze(item) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(item) for item in value)
    return value


def thaw(value: Any) -> Any:
    """A mutable deep copy as plain YAML data: dicts, lists, and spec objects as camelCase
    mappings without their unset or empty fields."""
    if isinstance(value, KubernetesVersion | Path):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        pairs = ((camel(f.name), thaw(getattr(value, f.name))) for f in dataclasses.fields(value))
        return {key: item for key, item in pairs if item not in (None, {}, [])}
    if isinstance(value, Mapping):
        return {key: thaw(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [thaw(item) for item in value]
    return value


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.capitalize() for word in rest)


class StrictLoader(yaml.SafeLoader):
    """A SafeLoader that refuses duplicate keys, where PyYAML would let the last one win."""


def _construct_mapping(loader: StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    keys = [key.value for key, _ in node.value if isinstance(key, yaml.ScalarNode)]
    for key, _ in node.value:
        if isinstance(key, yaml.ScalarNode) and keys.count(key.value) > 1:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key.value!r}", key.start_mark
            )
    return loader.construct_mapping(node, deep=True)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
