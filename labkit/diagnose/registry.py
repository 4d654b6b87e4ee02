"""The lab's registry, which every node pulls through: stopped, it is the cause of every
pull that fails, and no node is to blame."""

from __future__ import annotations

from collections.abc import Iterator

from labkit.diagnose.pods import images_failing_to_pull
from labkit.diagnose.rules import RuleSet
from labkit.diagnose.snapshot import Diagnosis, LabSnapshot

# Before the pods: a stopped registry explains their pull failures.
RULES = RuleSet("nodes")


@RULES.rule()
def registry_stopped(snapshot: LabSnapshot) -> Iterator[Diagnosis]:
    name, status = snapshot.registry, snapshot.registry_status
    if name is None or status == "running":
        return
    failing = sorted(images_failing_to_pull(snapshot))
    yield Diagnosis(
        "registry.stopped",
        f"the lab's registry {name} is {status}: no node can pull an image it does not "
        "hold already (the nodes themselves are fine)",
        f"container/{name}",
        (
            f"docker: {name} is {status}",
            *(f"a pod waits to pull {image}" for image in failing),
        ),
        f"start it: `labkit lab start {snapshot.lab}` (or `docker start {name}`), with its "
        f"content in place; `docker logs {name}` shows how it ended",
    )
