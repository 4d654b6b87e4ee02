"""How long checking one node takes: labkit's one archive read and in-process rules, against
the same file checks (existence, mode, owner, content of every file the archive holds) made
through testinfra's `host.file(...)`, one `docker exec` per call.

    python bench/check_speed.py LAB [--node NODE] [--repeat N] [--output bench/check-speed.json]

Both sides run against the same node in one run; the lab must be up. The labkit time is
the first check in this process (cold: no key parsed yet), as `labkit check` pays it;
repeats show the warm time of a process that checks again.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import testinfra

from labkit.checks import NodeArtifacts, check_node, node_rules
from labkit.checks.lab_context import node_context, read_lab_config, read_node
from labkit.facade import Lab
from labkit.host import docker_client
from labkit.lab.node import Node

DEFAULT_OUTPUT = Path(__file__).with_name("check-speed.json")


def timed(action: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    return action(), time.perf_counter() - started


def labkit_check(node: Node, lab: Lab) -> tuple[NodeArtifacts, int, float, float]:
    """(artifacts, findings, read seconds, rules seconds): one read of the node, then every
    node rule on it."""
    # The lab's expectations are read once per lab, not per node: outside the timing.
    config = read_lab_config(lab.control_plane, read_node(lab.control_plane))
    address = node.lab_address()
    artifacts, read_seconds = timed(lambda: read_node(node))
    context = node_context(config, artifacts, address)
    findings, rules_seconds = timed(lambda: check_node(artifacts, context))
    return artifacts, len(findings), read_seconds, rules_seconds


def testinfra_check(node: Node, artifacts: NodeArtifacts) -> tuple[int, float]:
    """(docker execs, seconds) of the same file checks through testinfra."""
    host = testinfra.get_host(f"docker://{node.container.name}")
    calls = 0
    run = host.backend.run

    def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return run(*args, **kwargs)

    host.backend.run = counted  # type: ignore[method-assign]

    def check() -> None:
        for path, entry in artifacts.files.items():
            file = host.file(path)
            assert file.exists, path
            assert (file.mode, file.user, file.group) is not None
            if not entry.is_dir and entry.data:
                # testinfra reads contents in one exec each (`cat`), as a user's test would.
                assert file.content == entry.data, path

    _, seconds = timed(check)
    return calls, seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lab")
    parser.add_argument("--node", help="node name (default: the control plane)")
    parser.add_argument("--repeat", type=int, default=3, help="warm labkit repeats")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)

    lab = Lab.find(docker_client(), args.lab)
    node = lab.node(args.node) if args.node else lab.control_plane
    artifacts, findings, read_seconds, rules_seconds = labkit_check(node, lab)
    cold = read_seconds + rules_seconds
    warm = [sum(labkit_check(node, lab)[2:]) for _ in range(args.repeat)]
    execs, testinfra_seconds = testinfra_check(node, artifacts)
    result = {
        "lab": lab.name,
        "node": node.name,
        "role": node.role,
        "files": len(artifacts.files),
        "node_rules": len(node_rules()),
        "labkit_findings": findings,
        "labkit_seconds": round(cold, 3),
        "labkit_read_seconds": round(read_seconds, 3),
        "labkit_rules_seconds": round(rules_seconds, 3),
        "labkit_warm_seconds": round(statistics.median(warm), 3) if warm else None,
        "labkit_docker_execs": 1,
        "testinfra_seconds": round(testinfra_seconds, 3),
        "testinfra_docker_execs": execs,
        "ratio": round(testinfra_seconds / cold, 1),
        "read_ratio": round(testinfra_seconds / read_seconds, 1),
        "host": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{node.name}: {result['files']} files")
    print(
        f"  labkit    {cold:7.2f}s  1 docker exec ({read_seconds:.2f}s), {len(node_rules())} "
        f"rules ({rules_seconds:.2f}s); warm {result['labkit_warm_seconds']}s"
    )
    print(
        f"  testinfra {testinfra_seconds:7.2f}s  {execs} docker execs "
        "(exists, mode, owner, content)"
    )
    print(f"  ratio     {result['ratio']}x (reads alone {result['read_ratio']}x) -> {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
