"""A suite's specs by name before any lab exists: ginkgo's dry run of the release's
binary, so a test run can make one test item per spec (`-k` selects specs) and still run
the suite once per lab.

>>> spec_names("kubeadm", DEFAULT_VERSION)[:1]  # doctest: +SKIP
['[sig-cluster-lifecycle] [area-kubeadm] DNS addon CoreDNS ConfigMap should exist']
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from labkit.pipeline import Progress
from labkit.suites import ginkgo
from labkit.suites.binaries import GINKGO, SuiteBinaries, build_log_path
from labkit.suites.report import SPEC_NODE
from labkit.suites.suites import SuiteRequest
from labkit.versions import KubernetesVersion


def spec_names(
    suite: str, version: KubernetesVersion, progress: Progress | None = None
) -> list[str]:
    """Every spec of the suite (its label filter applied, no lab's skips), sorted."""
    progress = progress or Progress(build_log_path(), quiet=True)
    request = SuiteRequest(suite=suite)
    binaries = SuiteBinaries(version, progress)
    with tempfile.TemporaryDirectory(prefix="labkit-specs-") as directory:
        invocation = ginkgo.SuiteInvocation(
            request=request,
            lab=None,
            ginkgo=binaries.path(GINKGO),
            binary=binaries.path(request.definition.program),
            report_dir=Path(directory),
        )
        planned = ginkgo.dry_run(invocation, progress)
    return sorted(
        spec.name for spec in planned.specs if spec.node_type == SPEC_NODE and spec.selected
    )
