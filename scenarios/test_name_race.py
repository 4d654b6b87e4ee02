"""Two `labkit lab up` of one name at once (issue 21): one brings the lab up, the other is
refused (exit 2, naming the name) and removes nothing of it; what is left is one whole lab."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from labkit.facade import Lab
from labkit.naming import LABEL_LAB
from labkit.pytest_ownership import lab_name, lab_owner

ROOT = Path(__file__).resolve().parent.parent
# Two one-node bring-ups side by side on a 2-core host: about 3 minutes here.
UP_TIMEOUT = 1200


@pytest.fixture
def race_name(request: pytest.FixtureRequest, labkit_host) -> str:
    # LABKIT_RACE_LAB names the lab where a host asks for its own names.
    name = os.environ.get("LABKIT_RACE_LAB") or lab_name(
        request.node.nodeid, lab_owner(request.config)
    )
    yield name
    labkit_host.remove_lab(name)


def test_two_lab_ups_of_one_name_leave_the_winners_lab_whole(race_name: str, labkit_host) -> None:
    command = [sys.executable, "-m", "labkit", "lab", "up", "--name", race_name, "--cni", "none"]
    runs = [
        subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=UP_TIMEOUT) for run in runs]
    codes = [run.returncode for run in runs]
    assert sorted(codes) == [0, 2], outputs
    loser_err = outputs[codes.index(2)][1]
    assert "name: " in loser_err and repr(race_name) in loser_err, loser_err
    assert "Traceback" not in loser_err
    assert "removing lab" not in outputs[codes.index(2)][0] + loser_err

    # The winner's lab is whole: every node, the network, the kubeconfig (0600 in 0700).
    client = labkit_host.client
    lab = Lab.find(client, race_name)
    assert [n.name for n in lab.nodes] == [f"{race_name}-control-plane"]
    assert all(n.container.status == "running" for n in lab.nodes)
    networks = client.networks.list(filters={"label": f"{LABEL_LAB}={race_name}"})
    assert [n.name for n in networks] == [race_name]
    # The claim is gone: no container but the node carries the lab's name.
    assert client.containers.list(all=True, filters={"name": f"^/{race_name}$"}) == []
    assert lab.kubeconfig.stat().st_mode & 0o777 == 0o600
    assert lab.state_dir.stat().st_mode & 0o777 == 0o700
    assert lab.api_client() is not None
    assert lab.status().api.answers
