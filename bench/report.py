"""bench/results.json and bench/results.md from the benchmark's runs."""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable
from pathlib import Path
from typing import Any

GOAL_RATIO = 0.8
TOOLS = ("labkit", "kind")


def median(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 2) if present else None


def summarize(runs: list[dict[str, Any]], context: dict[str, Any]) -> dict[str, Any]:
    medians = {
        tool: _tool_medians([r for r in runs if r["tool"] == tool and not r.get("error")])
        for tool in TOOLS
    }
    labkit, kind = (medians[t]["ready_seconds"] for t in TOOLS)
    ratio = round(labkit / kind, 3) if labkit and kind else None
    return {
        **context,
        "median": medians,
        "ratio_labkit_over_kind_median_ready": ratio,
        "goal": f"labkit median time to all Ready <= {GOAL_RATIO} x kind's",
        "goal_met": ratio is not None and ratio <= GOAL_RATIO,
        "failed_runs": sum(1 for r in runs if r.get("error")),
        "runs": runs,
    }


def _tool_medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    steps = list(dict.fromkeys(s for r in runs for s in r.get("steps", {})))
    nodes = sorted({n for r in runs for n in r.get("memory", {})})
    return {
        "runs": len(runs),
        "ready_seconds": median(r["ready_seconds"] for r in runs),
        "ready_seconds_min": min((r["ready_seconds"] for r in runs), default=None),
        "ready_seconds_max": max((r["ready_seconds"] for r in runs), default=None),
        "ready_seconds_by_api": median(r.get("ready_seconds_by_api") for r in runs),
        "teardown_seconds": median(r.get("teardown_seconds") for r in runs),
        "check_seconds": median(r.get("check_seconds") for r in runs),
        "steps": {s: median(r["steps"].get(s) for r in runs) for s in steps},
        "peak_working_set_mib": {
            n: median(r["memory"].get(n, {}).get("peak_working_set_mib") for r in runs)
            for n in nodes
        },
        "kernel_peak_mib": {
            n: median(r["memory"].get(n, {}).get("kernel_peak_mib") for r in runs) for n in nodes
        },
    }


def write(results: dict[str, Any], directory: Path) -> tuple[Path, Path]:
    json_path = directory / "results.json"
    json_path.write_text(json.dumps(results, indent=2) + "\n")
    md_path = directory / "results.md"
    md_path.write_text(markdown(results))
    return json_path, md_path


def markdown(results: dict[str, Any]) -> str:
    med = results["median"]
    nodes = sorted({n for t in TOOLS for n in med[t]["peak_working_set_mib"]})
    lines = [
        f"# labkit vs kind {results['kind_version']}: 1 control plane + 2 workers",
        "",
        f"{results['generated']}; image `{results['image']}`; {results['pairs']} pairs; "
        f"{results['machine']['cpus']} CPUs, {results['machine']['memory_gib']} GiB; "
        f"load average at run starts {results['load_average_range']}.",
        "",
        "kind applies "
        + (
            "labkit's flannel rendering (flannel pointed at the control plane)"
            if results.get("kind_flannel_rendered")
            else "the image's flannel manifest as it is (flannel dials the "
            "`kubernetes` Service; the host refuses it off the lab)"
        )
        + ".",
        "",
        "| | labkit | kind |",
        "| --- | --- | --- |",
        _row("time to all Ready, median (s)", med, "ready_seconds"),
        _row("  min / max (s)", med, "ready_seconds_min", "ready_seconds_max"),
        _row("  from the API's own timestamps (s)", med, "ready_seconds_by_api"),
        _row("teardown (s)", med, "teardown_seconds"),
        _row("invariant checks (s)", med, "check_seconds"),
    ]
    for node in nodes:
        lines.append(
            f"| peak memory {node} (MiB, working set / kernel peak) | "
            + " | ".join(
                f"{_fmt(med[t]['peak_working_set_mib'].get(node))} / "
                f"{_fmt(med[t]['kernel_peak_mib'].get(node))}"
                for t in TOOLS
            )
            + " |"
        )
    ratio = results["ratio_labkit_over_kind_median_ready"]
    lines += [
        "",
        f"**labkit / kind (median time to all Ready): {_fmt(ratio)}** "
        f"(goal <= {GOAL_RATIO}: {'met' if results['goal_met'] else 'not met'})",
        "",
    ]
    lines += [
        "Median step times (s):",
        "",
        "| labkit step | s | | kind step | s |",
        "| --- | --- | --- | --- | --- |",
    ]
    labkit_steps = list(med["labkit"]["steps"].items())
    kind_steps = list(med["kind"]["steps"].items())
    for i in range(max(len(labkit_steps), len(kind_steps))):
        left = labkit_steps[i] if i < len(labkit_steps) else ("", None)
        right = kind_steps[i] if i < len(kind_steps) else ("", None)
        lines.append(f"| {left[0]} | {_fmt(left[1])} | | {right[0]} | {_fmt(right[1])} |")
    lines += [
        "",
        "Every run, in order:",
        "",
        "| # | tool | all Ready (s) | load avg | note |",
        "| --- | --- | --- | --- | --- |",
    ]
    for i, run in enumerate(results["runs"], start=1):
        note = run.get("error", "")[:80] or (
            f"{sum(r['count'] for r in run.get('restarts', []))} container restarts"
        )
        lines.append(
            f"| {i} | {run['tool']} | {_fmt(run.get('ready_seconds'))} | "
            f"{run.get('load_average', '')} | {note} |"
        )
    lines += ["", results.get("check_seconds_note", ""), ""]
    return "\n".join(lines)


def _row(title: str, med: dict[str, Any], *keys: str) -> str:
    cells = [" / ".join(_fmt(med[t][k]) for k in keys) for t in TOOLS]
    return f"| {title} | " + " | ".join(cells) + " |"


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:g}" if isinstance(value, int) else f"{value:.2f}"
