"""Benchmark: labkit's bring-up against kind's, 1 control plane + 2 workers, same image.

    python bench/run.py --pairs 3

Runs labkit and kind in pairs, one cluster at a time, swapping which goes first in every
other pair so that a drift in the host's load falls on both alike. For each run it records
the time to all Ready (every node Ready, both CoreDNS pods Running and Ready, kube-proxy
Ready on every node: labkit's own criterion, applied to kind through its kubeconfig),
the tool's step times, the peak memory of each node, the cluster's own timeline and how
long the lab takes to remove; then writes bench/results.json and bench/results.md.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import platform
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config

# A script run as `python bench/run.py` sees bench/ on sys.path, not the repository.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import report, timeline
from bench.kind import (
    KIND_VERSION,
    KindCluster,
    create_network_for_kind,
    host_accommodation,
    remove_network,
    service_range_rejected,
)
from bench.memory import MemoryPoller
from labkit import host
from labkit.constants import READY_TIMEOUT
from labkit.facade import Lab
from labkit.host.kernel import cgroup_mode
from labkit.lab import waits
from labkit.naming import LABEL_KUBERNETES_VERSION, LABEL_LAB, cache_dir
from labkit.pipeline import Progress
from labkit.spec import LabSpec
from labkit.versions import DEFAULT_VERSION, KubernetesVersion

BENCH_DIR = Path(__file__).resolve().parent
CHECK_SPEED = BENCH_DIR / "check_speed.py"
WORKERS = 2
# Memory keeps being polled this long after Ready: pods still start then (CoreDNS replicas,
# flannel on late nodes), and the peak often comes after the criterion is met.
SETTLE_SECONDS = 15.0


def all_ready(api: k8s.ApiClient, nodes: list[str], timeout: float) -> str | None:
    """labkit's own readiness criterion (labkit.lab.waits.readiness_checks, what `lab up`
    waits for); the first unmet condition, or None when all hold."""
    return waits.first_unmet(waits.readiness_checks(api, nodes), timeout)


def ready_by_api(marks: timeline.Timeline, nodes: list[str]) -> float | None:
    """When the criterion held by the cluster's own timestamps (last node or pod to become
    Ready), independent of how quickly a tool noticed."""
    wanted = [
        m.seconds
        for m in marks.marks
        if (m.what == "node Ready" and m.subject in nodes)
        or (m.what == "pod Ready" and m.subject.startswith(("coredns-", "kube-proxy-")))
    ]
    return max(wanted) if wanted else None


def node_names(cluster: str) -> list[str]:
    return [
        f"{cluster}-control-plane",
        *(f"{cluster}-worker{i if i > 1 else ''}" for i in range(1, WORKERS + 1)),
    ]


def run_labkit(
    name: str, extra_spec: dict[str, Any], workdir: Path, settle: float
) -> dict[str, Any]:
    client = host.docker_client()
    spec = LabSpec.from_dict({"name": name, "workers": WORKERS, **extra_spec})
    record: dict[str, Any] = {"tool": "labkit", "name": name, **_host_load(client)}
    progress = Progress(log_path=workdir / f"{name}.log", quiet=True)
    poller = MemoryPoller(
        lambda: client.containers.list(filters={"label": f"{LABEL_LAB}={name}"}), prefix=f"{name}-"
    )
    started, clock = datetime.now(UTC), time.monotonic()
    lab: Lab | None = None
    try:
        with poller:
            result = Lab.up(spec, client=client, progress=progress)
            lab = result.lab
            record["ready_seconds"] = round(time.monotonic() - clock, 2)
            record["steps"] = {t.name: round(t.seconds, 2) for t in result.timings}
            time.sleep(settle)
        _observe(record, lab.api_client(), started, node_names(name))
        checks = invariant_check_seconds(lab)
        record["check_seconds"] = checks.get("total") if checks else None
        record["checks"] = checks
    except Exception as error:
        record["error"] = f"{type(error).__name__}: {error}"[:2000]
    finally:
        record["memory"] = poller.result()
        progress.close()
        if lab is not None:
            clock = time.monotonic()
            lab.down()
            record["teardown_seconds"] = round(time.monotonic() - clock, 2)
    return record


def run_kind(
    name: str,
    image: str,
    workdir: Path,
    settle: float,
    flannel_rendered: bool = False,
    accommodation: list[str] | None = None,
) -> dict[str, Any]:
    client = host.docker_client()
    cluster = KindCluster(
        name,
        image,
        workdir / name,
        WORKERS,
        client,
        flannel_rendered=flannel_rendered,
        accommodation=accommodation or [],
    )
    record: dict[str, Any] = {"tool": "kind", "name": name, **_host_load(client)}
    poller = MemoryPoller(cluster.containers, prefix=f"{name}-")
    started, clock = datetime.now(UTC), time.monotonic()
    try:
        with poller:
            cluster.create()
            record["create_seconds"] = round(time.monotonic() - clock, 2)
            api = k8s_config.new_client_from_config_dict(
                yaml.safe_load(cluster.kubeconfig.read_text())
            )
            unmet = all_ready(api, node_names(name), READY_TIMEOUT)
            if unmet:
                raise TimeoutError(f"{unmet}: not reached within {READY_TIMEOUT:.0f}s")
            record["ready_seconds"] = round(time.monotonic() - clock, 2)
            time.sleep(settle)
        record["steps"] = cluster.step_seconds()
        _observe(record, api, started, node_names(name))
    except Exception as error:
        record["error"] = f"{type(error).__name__}: {error}"[:2000]
    finally:
        record["memory"] = poller.result()
        record["kind_output"] = [f"{s:6.1f}s {line}" for s, line in cluster.output]
        clock = time.monotonic()
        cluster.delete()
        record["teardown_seconds"] = round(time.monotonic() - clock, 2)
    return record


def _observe(
    record: dict[str, Any], api: k8s.ApiClient, started: datetime, nodes: list[str]
) -> None:
    marks = timeline.collect(api, started)
    record["ready_seconds_by_api"] = ready_by_api(marks, nodes)
    record["restarts"] = marks.to_dict()["restarts"]
    record["timeline"] = marks.to_dict()["marks"]


def image_version(client, image: str) -> KubernetesVersion:
    """The release a node image was built for, as its label records it."""
    labels = client.images.get(image).labels or {}
    return KubernetesVersion.parse(labels[LABEL_KUBERNETES_VERSION], field=f"{image}'s label")


def _host_load(client) -> dict[str, Any]:
    """What else the host was doing when a run started: the benchmark shares its cores."""
    running = client.containers.list()
    return {"load_average": round(os.getloadavg()[0], 1), "other_containers": len(running)}


def invariant_check_seconds(lab: Lab) -> dict[str, Any] | None:
    """labkit's invariant checks on every node of the lab, timed by bench/check_speed.py's
    `labkit_check` (one archive read of the node plus every node rule, cold); None when
    that module does not exist."""
    if not CHECK_SPEED.exists():
        return None
    try:
        spec = importlib.util.spec_from_file_location("check_speed", CHECK_SPEED)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        per_node = {
            node.name.removeprefix(f"{lab.name}-"): round(module.labkit_check(node, lab)[2], 2)
            for node in lab.nodes
        }
    except Exception as error:
        # check_speed.py is another engineer's and may be mid-change: say so, don't fail.
        return {"error": f"{type(error).__name__}: {error}"[:500]}
    return {"total": round(sum(per_node.values()), 2), "per_node": per_node}


def machine() -> dict[str, Any]:
    client = host.docker_client()
    info = client.info()
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(info["MemTotal"] / 2**30, 1),
        "kernel": platform.release(),
        "docker": info.get("ServerVersion"),
        "cgroup": info.get("CgroupVersion"),
        "node_runtime": host.node_runtime(client),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=3, help="labkit+kind pairs (default 3)")
    parser.add_argument("--image", default=DEFAULT_VERSION.node_image)
    parser.add_argument("--only", choices=report.TOOLS, help="run one tool only (profiling)")
    parser.add_argument(
        "--labkit-spec",
        type=Path,
        metavar="YAML",
        help="extra lab spec fields for labkit runs (e.g. kubeadm patches)",
    )
    parser.add_argument(
        "--kind-flannel-rendered",
        action="store_true",
        help="give kind labkit's flannel rendering (flannel pointed at the "
        "control plane) instead of the image's manifest as it is",
    )
    parser.add_argument("--settle", type=float, default=SETTLE_SECONDS)
    parser.add_argument(
        "--out",
        type=Path,
        default=BENCH_DIR,
        help="where results.json and results.md go (default bench/)",
    )
    args = parser.parse_args(argv)
    extra = yaml.safe_load(args.labkit_spec.read_text()) if args.labkit_spec else {}
    workdir = cache_dir() / "bench" / f"{os.getpid()}"
    workdir.mkdir(parents=True, exist_ok=True)
    runs: list[dict[str, Any]] = []
    tag = f"{os.getpid() % 10000}"
    client = host.docker_client()
    accommodation = host_accommodation(image_version(client, args.image), cgroup_mode() != "v2")
    try:
        # kind's network, and the host refusing what it sends to the service range: kind's
        # flannel dials the `kubernetes` Service before kube-proxy runs (bench/kind.py).
        guard = (
            service_range_rejected(create_network_for_kind(client))
            if args.only != "labkit"
            else contextlib.nullcontext()
        )
        with guard:
            for pair in range(args.pairs):
                order = report.TOOLS if pair % 2 == 0 else report.TOOLS[::-1]
                for tool in order:
                    if args.only and tool != args.only:
                        continue
                    name = f"lkbench-{tag}-{tool[0]}{pair}"
                    print(f"pair {pair + 1}/{args.pairs}: {tool} ({name}) ...", flush=True)
                    record = (
                        run_labkit(name, extra, workdir, args.settle)
                        if tool == "labkit"
                        else run_kind(
                            name,
                            args.image,
                            workdir,
                            args.settle,
                            args.kind_flannel_rendered,
                            accommodation,
                        )
                    )
                    runs.append(record)
                    print(
                        f"  {record.get('ready_seconds', 'failed')} s to all Ready"
                        + (f"; {record['error'][:300]}" if record.get("error") else ""),
                        flush=True,
                    )
    finally:
        remove_network(client)
    results = report.summarize(
        runs,
        {
            "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "command": ".venv/bin/python bench/run.py "
            + " ".join(argv if argv is not None else sys.argv[1:]),
            "image": args.image,
            "kind_version": KIND_VERSION,
            "pairs": args.pairs,
            "labkit_spec_extra": extra,
            "kind_flannel_rendered": args.kind_flannel_rendered,
            # What kind was given beyond its defaults for this host, and nothing more.
            "kind_accommodation": [yaml.safe_load(patch) for patch in accommodation],
            "machine": machine(),
            "load_average_range": _range(r["load_average"] for r in runs),
            "criterion": "every node Ready, the control plane's static pods Ready, 2 CoreDNS "
            "pods Running and Ready, kube-proxy Ready on every node; clock from "
            "before the tool starts",
            "check_seconds_note": (
                "invariant-check time: bench/check_speed.py's labkit_check "
                "(cold) on every node, summed; per node in each run's checks"
                if CHECK_SPEED.exists()
                else "invariant-check time: null, bench/check_speed.py did not exist when this ran"
            ),
        },
    )
    args.out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = report.write(results, args.out)
    # labkit's per-run logs (every kubeadm line, timestamped) stay: the profile reads them.
    for leftover in ("shim", "kubeconfig"):
        for path in workdir.glob(f"*/{leftover}"):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    print(f"logs: {workdir}")
    print(
        f"ratio labkit/kind (median time to all Ready): "
        f"{results['ratio_labkit_over_kind_median_ready']}; {json_path}, {md_path}"
    )
    print(json.dumps(results["median"], indent=2))
    return 0 if not results["failed_runs"] else 1


def _range(values) -> str:
    values = list(values)
    return f"{min(values)}-{max(values)}" if values else "n/a"


if __name__ == "__main__":
    sys.exit(main())
