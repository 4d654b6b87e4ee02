"""Diagnoses as text (for a terminal or a pytest report section) and as JSON data."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from labkit.diagnose.snapshot import Diagnosis, LabSnapshot, is_failing, is_ready
from labkit.results import Result


def looked_at(snapshot: LabSnapshot) -> list[str]:
    """What the diagnosis read, so that "no problems found" says of what."""
    running = sum(status == "running" for status in snapshot.containers.values())
    lines = [f"node containers: {running}/{len(snapshot.containers)} running"]
    if snapshot.api_error is not None:
        lines.append(f"API: unreachable ({snapshot.api_error})")
    else:
        ready = sum(is_ready(n) for n in snapshot.nodes)
        failing = sum(is_failing(p) for p in snapshot.pods)
        lines += [
            f"nodes: {ready}/{len(snapshot.nodes)} Ready (conditions and taints)",
            f"pods: {len(snapshot.pods)}, {failing} not running or not ready",
            f"events: {len(snapshot.events)}",
        ]
        if snapshot.join_tokens is not None:
            lines.append(f"bootstrap tokens usable for joining: {len(snapshot.join_tokens)}")
    lines.append(
        "kubelet and containerd journals of: "
        + (", ".join(sorted(snapshot.journals)) or "no node (none looked unwell)")
    )
    if snapshot.control_plane_runtime is not None or snapshot.control_plane_runtime_error:
        lines.append(f"crictl ps -a on {snapshot.control_plane}")
    return lines


def format_diagnosis(diagnosis: Diagnosis) -> str:
    lines = [f"[{diagnosis.cause_id}] {diagnosis.subject}: {diagnosis.summary}"]
    for item in diagnosis.evidence:
        first, *rest = item.rstrip().splitlines() or [""]
        lines += [f"    - {first}", *(f"      {line}" for line in rest)]
    lines.append(f"    fix: {diagnosis.fix}")
    return "\n".join(lines)


def format_text(diagnoses: Sequence[Diagnosis], snapshot: LabSnapshot | None = None) -> str:
    if not diagnoses:
        lines = ["no problems found"]
        if snapshot is not None:
            lines += ["looked at:", *(f"  {line}" for line in looked_at(snapshot))]
        return "\n".join(lines)
    count = f"{len(diagnoses)} problem{'s' if len(diagnoses) > 1 else ''}"
    header = f"lab {snapshot.lab}: {count}" if snapshot is not None else count
    return "\n\n".join([header, *(format_diagnosis(d) for d in diagnoses)])


def as_data(diagnoses: Sequence[Diagnosis], snapshot: LabSnapshot) -> dict[str, Any]:
    return {
        "lab": snapshot.lab,
        "problems": [{**asdict(d), "evidence": list(d.evidence)} for d in diagnoses],
        "looked_at": looked_at(snapshot),
    }


@dataclass(frozen=True, repr=False)
class LabDiagnosis(Result):
    """What `diagnose` found and the snapshot it read; `str()` is what `labkit diagnose`
    prints, `as_dict()` what its `--json` prints."""

    diagnoses: tuple[Diagnosis, ...]
    snapshot: LabSnapshot

    @property
    def ok(self) -> bool:
        return not self.diagnoses

    def __str__(self) -> str:
        return format_text(self.diagnoses, self.snapshot)

    def as_dict(self) -> dict[str, Any]:
        return as_data(self.diagnoses, self.snapshot)

    def _headline(self) -> str:
        count = len(self.diagnoses)
        return f"{self.snapshot.lab!r}: {count} problem{'' if count == 1 else 's'}"
