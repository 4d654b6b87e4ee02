"""What `labkit lab up` and `lab down` leave behind (issue 13, item 5), counted by labkit's
labels after each run of the CLI.

    python bench/lab_cycles.py cycles [--cycles 20] [--name o13-cycles]
    python bench/lab_cycles.py kills --cleanup down|prune [--name o13-kills]
                                     [--at "STEP@SECONDS" ...]

`cycles`: N times `labkit lab up --name NAME --workers 1`, then `labkit lab down NAME`;
after each down, the lab's containers, networks and volumes (its `io.labkit.lab` label),
the anonymous volumes its containers had mounted, and its state dir. `kills`: per `--at`,
`labkit lab up` killed with SIGKILL SECONDS after its stderr says step STEP began, what
the kill left, the cleanup (`labkit lab down NAME`, or the host-wide `labkit lab prune`,
which also removes every other lab on the host), and what is left after it. Results are
printed and written as JSON (`--output`).

Counts come from Docker's list calls (no inspect per container): a container another
process removes meanwhile is simply not listed, instead of failing the count.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import docker

from labkit.host import docker_client
from labkit.lab.state import LabState
from labkit.naming import LABEL_LAB, LABEL_MANAGED

DEFAULT_KILLS = ("create nodes@0.5", "kubeadm init@3", "join workers + install CNI@2")
STEP_WAIT_TIMEOUT = 600.0
# The whole output of a CLI run that failed.
LOG_DIR = Path("/tmp/lab_cycles-logs")
CLI_TIMEOUT = 900.0
# The labkit installed beside this interpreter (the checkout's .venv), not whichever is
# first on PATH: another checkout's would run other code.
LABKIT = str(Path(sys.executable).with_name("labkit"))


@dataclass(frozen=True)
class Count:
    """labkit's objects of one lab (or, host-wide, of every lab and build) at one moment."""

    containers: list[str]
    networks: list[str]
    volumes: list[str]
    # Volumes the lab's containers had mounted that carry no label (anonymous volumes).
    unlabelled_volumes: list[str] = field(default_factory=list)
    state_dir: bool = False

    @property
    def total(self) -> int:
        objects = self.containers + self.networks + self.volumes + self.unlabelled_volumes
        return len(objects) + int(self.state_dir)

    def summary(self) -> str:
        return (
            f"{len(self.containers)} containers, {len(self.networks)} networks, "
            f"{len(self.volumes)} volumes, {len(self.unlabelled_volumes)} unlabelled volumes, "
            f"state dir {'present' if self.state_dir else 'absent'}"
        )


def count(client: docker.DockerClient, label: str, mounted: Sequence[str] = ()) -> Count:
    """Containers, networks and volumes carrying `label` (`key` or `key=value`), and which
    of the `mounted` volumes still exist."""
    api = client.api
    containers = api.containers(all=True, filters={"label": label})
    networks = api.networks(filters={"label": label})
    volumes = api.volumes(filters={"label": label}).get("Volumes") or []
    labelled = {v["Name"] for v in volumes}
    return Count(
        containers=sorted(c["Names"][0].lstrip("/") for c in containers),
        networks=sorted(n["Name"] for n in networks),
        volumes=sorted(labelled),
        unlabelled_volumes=sorted(
            name for name in mounted if name not in labelled and volume_exists(client, name)
        ),
    )


def lab_count(client: docker.DockerClient, lab: str, mounted: Sequence[str] = ()) -> Count:
    found = count(client, f"{LABEL_LAB}={lab}", mounted)
    return Count(**{**asdict(found), "state_dir": LabState(lab).directory.exists()})


def mounted_volumes(client: docker.DockerClient, lab: str) -> list[str]:
    """The volumes (labelled or not) the lab's containers mount, from the list call."""
    containers = client.api.containers(all=True, filters={"label": f"{LABEL_LAB}={lab}"})
    return sorted(
        {m["Name"] for c in containers for m in c.get("Mounts") or [] if m.get("Type") == "volume"}
    )


def volume_exists(client: docker.DockerClient, name: str) -> bool:
    try:
        client.api.inspect_volume(name)
    except docker.errors.NotFound:
        return False
    return True


@dataclass(frozen=True)
class CliRun:
    command: list[str]
    exit_code: int
    seconds: float
    output: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def failure(self) -> dict[str, Any]:
        """The step that was running and labkit's own message (its lines after the journals
        and other evidence), and where the whole output was kept."""
        lines = self.output.splitlines()
        began = [line.strip() for line in lines if line.startswith(" • ")]
        first = next((i for i, line in enumerate(lines) if line.startswith("labkit: ")), None)
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        log = LOG_DIR / f"{self.command[2]}-{time.strftime('%H%M%S')}-{os.getpid()}.log"
        log.write_text(self.output)
        return {
            "last_step_begun": began[-1] if began else None,
            "message": "\n".join(lines[first : first + 8] if first is not None else lines[-3:]),
            "log": str(log),
        }


def labkit(*args: str) -> CliRun:
    command = ["labkit", *args]
    started = time.monotonic()
    done = subprocess.run([LABKIT, *args], capture_output=True, text=True, timeout=CLI_TIMEOUT)
    return CliRun(command, done.returncode, time.monotonic() - started, done.stdout + done.stderr)


def load() -> float:
    return os.getloadavg()[0]


def cycle(client: docker.DockerClient, lab: str, number: int) -> dict[str, Any]:
    load_at_start = load()
    up = labkit("lab", "up", "--name", lab, "--workers", "1")
    mounted = mounted_volumes(client, lab)
    before = lab_count(client, lab)
    down = labkit("lab", "down", lab)
    after = lab_count(client, lab, mounted)
    record = {
        "cycle": number,
        "load_at_start": round(load_at_start, 2),
        "up_seconds": round(up.seconds, 1),
        "up_exit_code": up.exit_code,
        "down_seconds": round(down.seconds, 1),
        "down_exit_code": down.exit_code,
        "while_up": asdict(before),
        "left": asdict(after),
        "left_total": after.total,
    }
    if not up.ok:
        record["up_failure"] = up.failure()
    if not down.ok:
        record["down_failure"] = down.failure()
    print(
        f"cycle {number:2}: up {up.seconds:5.1f}s (exit {up.exit_code}), "
        f"down {down.seconds:4.1f}s (exit {down.exit_code}); while up: "
        f"{len(before.containers)} containers, {len(before.networks)} networks, "
        f"{len(before.volumes)} volumes; left: {after.summary()}  (load {load_at_start:.1f})",
        flush=True,
    )
    for what in ("up_failure", "down_failure"):
        if what in record:
            print(f"   {what}: {json.dumps(record[what])}", flush=True)
    return record


def run_cycles(client: docker.DockerClient, lab: str, cycles: int) -> dict[str, Any]:
    records = [cycle(client, lab, n) for n in range(1, cycles + 1)]
    ups = [r["up_seconds"] for r in records if r["up_exit_code"] == 0]
    downs = [r["down_seconds"] for r in records if r["down_exit_code"] == 0]
    summary = {
        "cycles": cycles,
        "up_failures": sum(r["up_exit_code"] != 0 for r in records),
        "down_failures": sum(r["down_exit_code"] != 0 for r in records),
        "cycles_with_leftovers": sum(r["left_total"] > 0 for r in records),
        "up_median_seconds": round(statistics.median(ups), 1) if ups else None,
        "up_range_seconds": [min(ups), max(ups)] if ups else None,
        "down_median_seconds": round(statistics.median(downs), 1) if downs else None,
        "down_range_seconds": [min(downs), max(downs)] if downs else None,
    }
    print(json.dumps(summary), flush=True)
    return {"summary": summary, "cycles": records}


@dataclass(frozen=True)
class KillPoint:
    step: str
    delay: float

    @classmethod
    def parse(cls, text: str) -> KillPoint:
        step, _, delay = text.rpartition("@")
        if not step or not delay:
            raise argparse.ArgumentTypeError(f"{text!r}: expected STEP@SECONDS")
        try:
            return cls(step.strip(), float(delay))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: {delay!r} is not seconds") from None


def up_killed_at(lab: str, point: KillPoint) -> tuple[bool, list[str]]:
    """`labkit lab up`, killed with SIGKILL `point.delay` seconds after its progress says
    `point.step` began: (whether the step was still running when killed, every progress
    line it printed)."""
    began, ended = f" • {point.step} ...", f" ✓ {point.step} ("
    process = subprocess.Popen(
        [LABKIT, "lab", "up", "--name", lab, "--workers", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    # A step that never begins (the lab failed earlier, or hangs) must not hang the run.
    watchdog = threading.Timer(STEP_WAIT_TIMEOUT, process.kill)
    watchdog.start()
    seen: list[str] = []
    try:
        for line in process.stderr:
            seen.append(line.rstrip("\n"))
            if seen[-1] == began:
                time.sleep(point.delay)
                process.kill()
                break
        process.wait()
        # What it printed between the step's start and the kill: did the step end first?
        seen.extend(process.stderr.read().splitlines())
    finally:
        watchdog.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
    killed_in_step = (
        process.returncode == -signal.SIGKILL
        and began in seen
        and not any(line.startswith(ended) for line in seen)
    )
    return killed_in_step, seen


def kill_run(
    client: docker.DockerClient, lab: str, point: KillPoint, cleanup: str
) -> dict[str, Any]:
    killed, seen = up_killed_at(lab, point)
    finished = [line.strip() for line in seen if line.startswith(" ✓ ")]
    mounted = mounted_volumes(client, lab)
    at_kill = lab_count(client, lab)
    cleaned = labkit("lab", "down", lab) if cleanup == "down" else labkit("lab", "prune")
    after = lab_count(client, lab, mounted)
    record: dict[str, Any] = {
        "step": point.step,
        "delay_seconds": point.delay,
        "killed_during_step": killed,
        "steps_finished_before": finished,
        "progress_tail": seen[-6:],
        "left_by_the_kill": asdict(at_kill),
        "cleanup": " ".join(cleaned.command),
        "cleanup_exit_code": cleaned.exit_code,
        "cleanup_seconds": round(cleaned.seconds, 1),
        "cleanup_output": cleaned.output[-2000:],
        "left": asdict(after),
        "left_total": after.total,
    }
    if cleanup == "prune":
        managed = count(client, f"{LABEL_MANAGED}=true")
        record["managed_left_host_wide"] = asdict(managed)
        record["left_total"] += managed.total
    print(
        f"killed {point.delay}s into {point.step!r} ({'during it' if killed else 'NOT during it'};"
        f" {len(finished)} steps finished): the kill left {at_kill.summary()}; "
        f"`{' '.join(cleaned.command)}` exit {cleaned.exit_code} in {cleaned.seconds:.1f}s; "
        f"left: {after.summary()}",
        flush=True,
    )
    return record


def run_kills(
    client: docker.DockerClient, lab: str, points: Sequence[KillPoint], cleanup: str
) -> dict[str, Any]:
    records = []
    for point in points:
        records.append(kill_run(client, lab, point, cleanup))
        if records[-1]["left_total"]:
            print("stopping: the next lab up would meet what this one left", flush=True)
            break
    summary = {
        "kills": len(records),
        "killed_during_their_step": sum(r["killed_during_step"] for r in records),
        "runs_with_leftovers": sum(r["left_total"] > 0 for r in records),
        "cleanup": cleanup,
    }
    print(json.dumps(summary), flush=True)
    return {"summary": summary, "kills": records}


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    modes = parser.add_subparsers(dest="mode", required=True)
    cycles = modes.add_parser("cycles", help="N up/down cycles of a 1 + 1 lab")
    cycles.add_argument("--cycles", type=int, default=20)
    cycles.add_argument("--name", default="o13-cycles")
    kills = modes.add_parser("kills", help="lab up killed with SIGKILL at some steps")
    kills.add_argument(
        "--cleanup",
        choices=("down", "prune"),
        required=True,
        help="`labkit lab down NAME`, or `labkit lab prune` (HOST-WIDE: every lab goes)",
    )
    kills.add_argument("--name", default="o13-kills")
    kills.add_argument(
        "--at",
        type=KillPoint.parse,
        action="append",
        help=f"STEP@SECONDS, repeatable (default: {', '.join(DEFAULT_KILLS)})",
    )
    for mode in (cycles, kills):
        mode.add_argument("--output", type=Path, help="where the JSON goes")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    client = docker_client()
    if lab_count(client, args.name).total:
        print(f"lab {args.name!r} exists: remove it (`labkit lab down {args.name}`) first")
        return 2
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if args.mode == "cycles":
        result = run_cycles(client, args.name, args.cycles)
    else:
        points = args.at or [KillPoint.parse(text) for text in DEFAULT_KILLS]
        result = run_kills(client, args.name, points, args.cleanup)
    result = {"started": started, "lab": args.name, **result}
    output = args.output or Path(f"/tmp/lab_cycles-{args.mode}-{os.getpid()}.json")
    output.write_text(json.dumps(result, indent=2))
    print(f"written to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
