"""registry.mirrors: passes on the entries labkit writes, and fails alone when a node's
entry is missing, points elsewhere or is not TOML, or when the registry does not answer."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from labkit.checks import LabFiles, check_nodes
from labkit.checks.artifacts import FileEntry, NodeArtifacts
from labkit.checks.context import ClusterContext, RegistryEndpoint
from labkit.checks.registry_mirrors import RULES
from labkit.lab.registry import mirror_files

NODES = ("lab-control-plane", "lab-worker")


@dataclass(frozen=True)
class RegistryCase:
    rule_id: str
    breaks: str


# What test_checks_meta counts: the cases below that break each rule of this module.
CASES = [
    RegistryCase("registry.mirrors", "a node's entry missing, elsewhere or not TOML"),
    RegistryCase("registry.mirrors", "the registry not answering /v2/"),
]
REGISTRY = RegistryEndpoint("lab-registry", "10.201.0.5", 25001)
DOCKER_HUB = "/etc/containerd/certs.d/docker.io/hosts.toml"


def node(name: str, files: dict[str, str]) -> NodeArtifacts:
    role = "control-plane" if name.endswith("control-plane") else "worker"
    entries = {p: FileEntry(p, 0o644, 0, 0, text.encode()) for p, text in files.items()}
    return NodeArtifacts(name, role, entries)  # type: ignore[arg-type]


def lab(worker_files: dict[str, str], registry: RegistryEndpoint | None = REGISTRY) -> LabFiles:
    written = mirror_files(REGISTRY.address, REGISTRY.port)
    return LabFiles(
        {NODES[0]: node(NODES[0], written), NODES[1]: node(NODES[1], worker_files)},
        registry=registry,
    )


def failures(files: LabFiles) -> list[str]:
    context = ClusterContext(control_planes=NODES[:1], workers=NODES[1:])
    found = check_nodes(files, context, rules=RULES)
    return [f"{f.rule_id} {f.node} {f.path}: {f.found}" for f in found]


def test_the_entries_labkit_writes_pass() -> None:
    assert failures(lab(mirror_files(REGISTRY.address, REGISTRY.port))) == []


def test_a_lab_without_a_registry_has_nothing_to_check() -> None:
    assert failures(lab({}, registry=None)) == []


@pytest.mark.parametrize(
    ("change", "actual"),
    [
        (lambda f: f.pop(DOCKER_HUB), "no such file"),
        (
            lambda f: f.update({DOCKER_HUB: f[DOCKER_HUB].replace("10.201.0.5", "10.201.0.99")}),
            "server http://10.201.0.99:5000/v2/docker.io (override_path)",
        ),
        (lambda f: f.update({DOCKER_HUB: "server = "}), "not TOML"),
    ],
    ids=["missing", "elsewhere", "not-toml"],
)
def test_a_broken_entry_on_one_node_fails_naming_the_node_and_file(change, actual) -> None:
    files = mirror_files(REGISTRY.address, REGISTRY.port)
    change(files)
    [failure] = failures(lab(files))
    assert failure.startswith(f"registry.mirrors lab-worker {DOCKER_HUB}: {actual}")


def test_a_registry_that_does_not_answer_fails() -> None:
    silent = RegistryEndpoint("lab-registry", "10.201.0.5", 25001, "its container is exited")
    assert failures(lab(mirror_files(REGISTRY.address, REGISTRY.port), silent)) == [
        "registry.mirrors lab registry/lab-registry: its container is exited"
    ]
