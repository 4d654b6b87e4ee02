"""Peak memory of a cluster's node containers, polled in the background during a bring-up.

Two numbers per node, both from Docker's one-shot stats:
- working set: usage minus inactive file pages, as `docker stats` shows it; its peak is
  the highest value seen by the poll (so it can miss a spike shorter than the interval);
- kernel peak: cgroup v1's `max_usage`, the kernel's own high-water mark of usage including
  page cache; exact but inflated by cache (reading the node image's files counts). cgroup
  v2 reports no such field and it stays None.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import docker.errors
import requests
from docker.models.containers import Container

MIB = 1024 * 1024
POLL_SECONDS = 1.0


@dataclass
class NodeMemory:
    peak_working_set: int = 0
    kernel_peak: int | None = None
    samples: int = 0

    def to_dict(self) -> dict[str, float | int | None]:
        return {
            "peak_working_set_mib": round(self.peak_working_set / MIB, 1),
            "kernel_peak_mib": (
                round(self.kernel_peak / MIB, 1) if self.kernel_peak is not None else None
            ),
            "samples": self.samples,
        }


class MemoryPoller:
    """Polls every container `find` returns until stopped; node key = name minus `prefix`
    (`-control-plane`, `-worker`, ...), so that labkit's and kind's nodes line up."""

    def __init__(
        self, find: Callable[[], list[Container]], prefix: str, interval: float = POLL_SECONDS
    ) -> None:
        self.find = find
        self.prefix = prefix
        self.interval = interval
        self.nodes: dict[str, NodeMemory] = {}
        self.errors: list[str] = []
        # Containers removed mid-poll (a failed bring-up, a teardown): their poll has ended.
        self.gone: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="memory-poller")

    def __enter__(self) -> MemoryPoller:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> dict[str, dict[str, float | int | None]]:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(30)
        return self.result()

    def result(self) -> dict[str, dict[str, float | int | None]]:
        return {name: memory.to_dict() for name, memory in sorted(self.nodes.items())}

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                for container in self.find():
                    if container.id not in self.gone:
                        self._sample(container)
            except docker.errors.APIError as error:
                # A node may vanish between listing and sampling (a failed bring-up).
                self.errors.append(str(error)[:200])
            self._stop.wait(self.interval)

    def _sample(self, container: Container) -> None:
        try:
            stats = container.stats(stream=False, one_shot=True)
        except (docker.errors.DockerException, requests.RequestException, ValueError) as error:
            # A container removed while Docker answered gives NotFound, or an empty body
            # (ValueError: the JSON decode fails): either way its poll ends here.
            self.gone.add(container.id)
            self.errors.append(f"{container.name}: {type(error).__name__}: {str(error)[:160]}")
            return
        memory = stats.get("memory_stats") or {}
        usage = memory.get("usage")
        if usage is None:
            return
        details = memory.get("stats") or {}
        inactive = details.get("total_inactive_file", details.get("inactive_file", 0))
        node = self.nodes.setdefault(container.name.removeprefix(self.prefix), NodeMemory())
        node.samples += 1
        node.peak_working_set = max(node.peak_working_set, usage - inactive)
        if "max_usage" in memory:
            node.kernel_peak = max(node.kernel_peak or 0, memory["max_usage"])
