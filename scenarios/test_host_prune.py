"""`labkit lab prune` without `--pytest-run`, reached through the fixtures: it removes every
container, network and volume labkit labelled on the host, whoever made it, and every
lab's state. So the test runs only where all labkit has on the host is the lab it makes
(CI, or `pytest scenarios/test_host_prune.py` on an idle host) and says whose it would
remove otherwise."""

from __future__ import annotations

from typing import Any

import pytest

from labkit.naming import LABEL_LAB, LABEL_MANAGED, state_dir

pytestmark = pytest.mark.host_wide

MANAGED = {"label": f"{LABEL_MANAGED}=true"}


def managed(labkit_host: Any) -> dict[str, list[Any]]:
    client = labkit_host.client
    return {
        "containers": client.containers.list(all=True, filters=MANAGED),
        "networks": client.networks.list(filters=MANAGED),
        "volumes": client.volumes.list(filters=MANAGED),
    }


def owners(listed: dict[str, list[Any]]) -> set[str]:
    """The lab of each labelled thing, or its name for a build's (no lab label)."""
    found = set()
    for things in listed.values():
        for thing in things:
            labels = thing.attrs.get("Labels") or thing.attrs.get("Config", {}).get("Labels", {})
            found.add(labels.get(LABEL_LAB) or f"{thing.name} (not a lab's)")
    return found


def test_prune_removes_all_labkit_made_and_every_labs_state(labkit_host, lab_factory) -> None:
    others = owners(managed(labkit_host))
    if others:
        pytest.skip(f"host-wide prune would remove what others run here: {sorted(others)}")
    lab = lab_factory(workers=0, cni="none")
    # What a `lab up` killed before its first container leaves: a state directory alone.
    leftover = state_dir() / "labs" / f"{lab.name}-killed-early"
    leftover.mkdir(parents=True)
    before = managed(labkit_host)
    assert owners(before) == {lab.name}

    removed = labkit_host.prune()

    assert removed == {kind: len(things) for kind, things in before.items()}
    assert managed(labkit_host) == {"containers": [], "networks": [], "volumes": []}
    assert labkit_host.labs() == []
    assert not lab.state_dir.exists() and not leftover.exists()
