"""lab_cycles' counting and kill points, without Docker:
`python -m pytest bench/test_lab_cycles.py`."""

from __future__ import annotations

import argparse
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import docker
import pytest

from bench.lab_cycles import CliRun, Count, KillPoint, count, mounted_volumes


class ListingApi:
    """Docker's list calls over fixed objects; inspect_volume knows only `existing`."""

    def __init__(self, containers: list[dict[str, Any]], existing: set[str]) -> None:
        self.listed_containers = containers
        self.existing = existing

    def containers(self, all: bool, filters: dict[str, str]) -> list[dict[str, Any]]:
        return self.listed_containers

    def networks(self, filters: dict[str, str]) -> list[dict[str, Any]]:
        return [{"Name": "o13-x"}]

    def volumes(self, filters: dict[str, str]) -> dict[str, Any]:
        return {"Volumes": None}  # what Docker answers when there is none

    def inspect_volume(self, name: str) -> dict[str, Any]:
        if name not in self.existing:
            raise docker.errors.NotFound(f"volume {name} not found")
        return {"Name": name}


def test_counts_come_from_the_list_calls_and_name_unlabelled_volumes_still_there() -> None:
    containers = [
        {
            "Names": ["/o13-x-worker"],
            "Mounts": [
                {"Type": "volume", "Name": "anon1"},
                {"Type": "bind", "Source": "/lib/modules"},
            ],
        },
        {"Names": ["/o13-x-control-plane"], "Mounts": [{"Type": "volume", "Name": "anon2"}]},
    ]
    client = SimpleNamespace(api=ListingApi(containers, existing={"anon2"}))
    assert mounted_volumes(client, "o13-x") == ["anon1", "anon2"]  # type: ignore[arg-type]
    found = count(client, "io.labkit.lab=o13-x", mounted=["anon1", "anon2"])  # type: ignore[arg-type]
    assert found.containers == ["o13-x-control-plane", "o13-x-worker"]
    assert found.networks == ["o13-x"]
    assert found.volumes == []
    assert found.unlabelled_volumes == ["anon2"]
    assert found.total == 4


def test_a_state_dir_left_counts_as_a_leftover() -> None:
    assert Count([], [], [], state_dir=True).total == 1
    assert Count([], [], []).total == 0


def test_kill_points_are_a_step_and_seconds() -> None:
    assert KillPoint.parse("join workers + install CNI@2") == KillPoint(
        "join workers + install CNI", 2.0
    )
    for bad in ("kubeadm init", "kubeadm init@soon", "@3"):
        with pytest.raises(argparse.ArgumentTypeError):
            KillPoint.parse(bad)


def test_a_failed_run_names_its_step_and_message_and_keeps_its_output(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bench.lab_cycles.LOG_DIR", tmp_path)
    output = (
        " • create nodes ...\n ✓ create nodes (7.0s)\n • kubeadm init ...\n"
        "-- kubelet journal --\nkubelet failed\n"
        "labkit: kubeadm init failed on o13-x-control-plane: exit 1\n  what to do: ...\n"
    )
    failure = CliRun(["labkit", "lab", "up"], 1, 3.0, output).failure()
    assert failure["last_step_begun"] == "• kubeadm init ..."
    assert failure["message"].startswith("labkit: kubeadm init failed on o13-x-control-plane")
    assert "kubelet failed" not in failure["message"]
    assert Path(failure["log"]).read_text() == output
