"""Which labs a pytest run owns: their names carry the run and the xdist worker, so that
concurrent runs on one Docker host never clash and a crashed worker's labs can be found
and removed without touching anyone else's."""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from typing import TYPE_CHECKING

import pytest

from labkit.errors import LabkitError
from labkit.spec import MAX_NAME_LENGTH

if TYPE_CHECKING:
    import docker

RUN = pytest.StashKey[str]()
# LabFactory names a test's further labs `<name>-1`, `<name>-2`...; lab_name leaves room.
_SUFFIX_ROOM = len("-99")


def lab_name(nodeid: str, owner: str) -> str:
    """A short RFC 1123 name, unique per test location and owner (`lab_owner`: the run and
    xdist worker). The stem is what gets shortened, never the owner: `labs_of` must still
    tell whose lab it is."""
    digest = hashlib.sha256(nodeid.encode()).hexdigest()[:6]
    tail = f"-{digest}-{owner}"
    room = min(14, MAX_NAME_LENGTH - _SUFFIX_ROOM - len("lk-") - len(tail))
    stem = re.sub(r"[^a-z0-9]+", "-", nodeid.rsplit("/", 1)[-1].split("::")[0].lower())
    stem = stem.removesuffix("-py").removeprefix("test-")[:room].strip("-") or "lab"
    return f"lk-{stem}{tail}"


def run_id_of(testrunuid: str) -> str:
    # Hashed, not sliced: `--testrunuid` takes any string, and lab names must stay
    # lowercase DNS labels.
    return hashlib.sha256(testrunuid.encode()).hexdigest()[:6]


def run_id(config: pytest.Config) -> str:
    """Six hex digits naming this pytest run, the same in the xdist controller and every
    worker: lab names carry it, so concurrent runs on one Docker host never pick the same
    name, and a crashed worker's labs can be told from everyone else's."""
    if RUN not in config.stash:
        workerinput = getattr(config, "workerinput", {})
        # xdist's --testrunuid, when given, names the run without -n too: a CI script can
        # then remove this run's labs alone (`labkit lab prune --pytest-run UID`).
        given = workerinput.get("testrunuid") or config.getoption("testrunuid", None)
        config.stash[RUN] = run_id_of(given or uuid.uuid4().hex)
    return config.stash[RUN]


def lab_owner(config: pytest.Config) -> str:
    """`<run id>-<xdist worker>` (`-gw` without xdist): the part of a fixture's lab name
    that says which run and worker it belongs to."""
    return f"{run_id(config)}-{os.environ.get('PYTEST_XDIST_WORKER', 'gw')}"


def labs_of(names: list[str], run: str, worker: str | None = None) -> list[str]:
    """The labs among `names` that the fixtures of `run` (and `worker`, if given) named."""
    owner = re.escape(worker) if worker else r"gw\d*"
    pattern = re.compile(rf"^lk-.+-[0-9a-f]{{6}}-{re.escape(run)}-{owner}(-\d+)?$")
    return [name for name in names if pattern.match(name)]


def prune_pytest_run(client: docker.DockerClient, testrunuid: str) -> list[str]:
    """Remove the labs that the fixtures of the pytest run given `--testrunuid=testrunuid`
    named, whichever worker made them; returns their names."""
    from labkit.lab.model import delete_lab, list_labs

    names = labs_of(list_labs(client), run_id_of(testrunuid))
    for name in names:
        delete_lab(client, name)
    return names


def remove_labs(run: str, worker: str | None, why: str) -> None:
    import docker

    from labkit.host import docker_client
    from labkit.lab.model import delete_lab, list_labs

    try:
        client = docker_client()
        names = labs_of(list_labs(client), run, worker)
    except (LabkitError, docker.errors.DockerException) as error:
        # Raising in an xdist controller hook ends the run with an INTERNALERROR, which
        # kills the live workers before their teardowns: more labs left behind, not fewer.
        print(f"\nlabkit: could not look for labs of run {run} to remove ({why}): {error}")
        return
    for name in names:
        print(f"\nlabkit: removing lab {name!r} ({why})", flush=True)
        delete_lab(client, name)
