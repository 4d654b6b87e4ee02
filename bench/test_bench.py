"""The benchmark's pure parts: kind's config and status lines, the report.
`python -m pytest bench/test_bench.py` (no Docker needed)."""

from __future__ import annotations

from pathlib import Path

import yaml

from bench import report
from bench.kind import KindCluster, _step_title, cluster_config


def test_cluster_config_mounts_the_rendered_cni_manifest_on_the_control_plane() -> None:
    config = yaml.safe_load(cluster_config(2, Path("/tmp/cni.yaml")))
    assert [n["role"] for n in config["nodes"]] == ["control-plane", "worker", "worker"]
    assert config["nodes"][0]["extraMounts"] == [
        {
            "hostPath": "/tmp/cni.yaml",
            "containerPath": "/kind/manifests/default-cni.yaml",
            "readOnly": True,
        }
    ]
    assert "extraMounts" not in config["nodes"][1]


def test_cluster_config_without_override_mounts_nothing() -> None:
    config = yaml.safe_load(cluster_config(1, None))
    assert all("extraMounts" not in n for n in config["nodes"])


def test_kind_step_times_come_from_its_status_lines() -> None:
    cluster = KindCluster.__new__(KindCluster)
    cluster.output = [
        (0.1, " • Ensuring node image (labkit/node:v1.34.4) 🖼️  ..."),
        (0.4, " ✓ Ensuring node image (labkit/node:v1.34.4) 🖼️"),
        (0.4, " • Preparing nodes 📦 📦 📦   ..."),
        (12.5, " ✓ Preparing nodes 📦 📦 📦 "),
        (13.0, "WARNING: something"),
    ]
    assert cluster.step_seconds() == {"Ensuring node image": 0.3, "Preparing nodes": 12.1}
    assert _step_title("Joining worker nodes 🚜") == "Joining worker nodes"


def _run(tool: str, ready: float, **extra) -> dict:
    return {
        "tool": tool,
        "ready_seconds": ready,
        "steps": {"a": ready / 2},
        "memory": {"control-plane": {"peak_working_set_mib": 400.0, "kernel_peak_mib": 900.0}},
        "load_average": 1.0,
        **extra,
    }


def test_summary_ratio_is_of_medians_and_failed_runs_are_left_out() -> None:
    runs = [
        _run("labkit", 40),
        _run("kind", 60),
        _run("labkit", 50),
        _run("kind", 50),
        _run("labkit", 45),
        _run("kind", 100, error="boom"),
    ]
    results = report.summarize(runs, {})
    assert results["median"]["labkit"]["ready_seconds"] == 45
    assert results["median"]["kind"]["ready_seconds"] == 55
    assert results["ratio_labkit_over_kind_median_ready"] == round(45 / 55, 3)
    assert results["goal_met"] is False
    assert results["failed_runs"] == 1


def test_markdown_has_the_ratio_and_one_row_per_run() -> None:
    runs = [_run("labkit", 40.0), _run("kind", 60.0)]
    results = report.summarize(
        runs,
        {
            "kind_version": "v0",
            "generated": "now",
            "image": "img",
            "pairs": 1,
            "machine": {"cpus": 2, "memory_gib": 24},
            "load_average_range": "1-1",
        },
    )
    text = report.markdown(results)
    assert "labkit / kind (median time to all Ready): 0.67" in text
    assert "| 1 | labkit | 40.00 |" in text and "| 2 | kind | 60.00 |" in text


def test_kind_gets_the_cgroup_v1_accommodation_and_nothing_more() -> None:
    from bench.kind import host_accommodation
    from labkit.versions import KubernetesVersion

    v137 = KubernetesVersion.parse("v1.37.2")
    patches = [yaml.safe_load(p) for p in host_accommodation(v137, cgroup_v1=True)]
    assert patches == [
        {"kind": "KubeletConfiguration", "failCgroupV1": False},
        {"kind": "InitConfiguration",
         "nodeRegistration": {"ignorePreflightErrors": ["SystemVerification"]}},
        {"kind": "JoinConfiguration",
         "nodeRegistration": {"ignorePreflightErrors": ["SystemVerification"]}},
    ]  # fmt: skip
    config = yaml.safe_load(cluster_config(2, None, host_accommodation(v137, cgroup_v1=True)))
    assert [yaml.safe_load(p) for p in config["kubeadmConfigPatches"]] == patches
    assert host_accommodation(v137, cgroup_v1=False) == []
    assert "kubeadmConfigPatches" not in yaml.safe_load(cluster_config(2, None, []))


def test_a_container_gone_mid_poll_ends_its_poll_without_a_traceback() -> None:
    from types import SimpleNamespace

    from bench.memory import MemoryPoller

    calls = []

    def stats(**_: object) -> dict:
        calls.append(1)
        raise ValueError("Expecting value: line 1 column 1 (char 0)")  # an empty body

    gone = SimpleNamespace(id="c1", name="lk-worker", stats=stats)
    poller = MemoryPoller(lambda: [gone], prefix="lk-", interval=0.01)
    with poller:
        import time

        time.sleep(0.1)
    assert len(calls) == 1 and poller.gone == {"c1"}
    assert "ValueError" in poller.errors[0]
