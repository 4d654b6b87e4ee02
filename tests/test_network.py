"""Lab networks: a subnet refused as overlapping is not picked again (parallel runs)."""

from __future__ import annotations

from types import SimpleNamespace

import docker.errors

from labkit.lab import network


def test_a_refused_subnet_is_skipped(monkeypatch) -> None:
    monkeypatch.setattr(
        network.subprocess, "run", lambda *a, **k: SimpleNamespace(stdout="", returncode=0)
    )
    asked: list[str] = []

    def create(name, **kwargs):
        subnet = kwargs["ipam"]["Config"][0]["Subnet"]
        asked.append(subnet)
        if len(asked) == 1:
            raise docker.errors.APIError("Pool overlaps with other one on this address space")

    client = SimpleNamespace(networks=SimpleNamespace(list=lambda: [], create=create))
    assert network.create_network(client, "lab") == "lab"
    assert asked == ["10.201.0.0/24", "10.201.1.0/24"]
