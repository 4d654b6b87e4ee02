"""The suites' binaries, built from the lab's own release of k8s.io/kubernetes.

One generated Go module per release (`gomod/suites-<release>` in the cache) requires
k8s.io/kubernetes at that release; `go mod tidy` resolves it through the module proxy, so
ginkgo's CLI comes at the version the release's go.mod pins. Each program is built into
its own cache directory keyed by its inputs, so a suite that needs only e2e_kubeadm.test
never waits for e2e.test, and a second build only looks the result up.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from labkit.errors import StepFailed
from labkit.naming import cache_dir
from labkit.nodeimage import components, gomod
from labkit.nodeimage.gomod import GoComponent
from labkit.pipeline import Progress, heartbeat
from labkit.versions import KubernetesVersion

GINKGO_MODULE = "github.com/onsi/ginkgo/v2"
# Raise when a program is built differently in a way its inputs do not show.
BUILD_REVISION = 1
# The suites refuse to compile without this tag (test/e2e/.../special_test_tag_test.go).
E2E_TAGS = "run_e2e_tests"


@dataclass(frozen=True)
class GoProgram:
    """One binary the suites need: a test binary (`go test -c`) or a command."""

    name: str
    package: str
    test: bool = False

    def command(self, output: Path, ldflags: str) -> list[str]:
        # `go test -c` would also vet the suite's packages: minutes, and no part of the binary.
        verb = ["test", "-c", "-vet=off", "-tags", E2E_TAGS] if self.test else ["build"]
        return [
            "go",
            *verb,
            *gomod.GO_BUILD_FLAGS,
            "-ldflags",
            ldflags,
            "-o",
            str(output),
            self.package,
        ]


E2E_KUBEADM = GoProgram("e2e_kubeadm.test", "k8s.io/kubernetes/test/e2e_kubeadm", test=True)
E2E = GoProgram("e2e.test", "k8s.io/kubernetes/test/e2e", test=True)
GINKGO = GoProgram("ginkgo", f"{GINKGO_MODULE}/ginkgo")
AGNHOST = GoProgram("agnhost", "k8s.io/kubernetes/test/images/agnhost")
PROGRAMS = (E2E_KUBEADM, E2E, GINKGO, AGNHOST)


def suites_component(version: KubernetesVersion, kubernetes_go_mod: str) -> GoComponent:
    """The generated module: the release, its staging modules at their tags, its ldflags
    (the suites print and compare the version they were built as)."""
    release = components.kubernetes(version, kubernetes_go_mod)
    return GoComponent(
        name="suites",
        module=release.module,
        version=release.version,
        packages=tuple(p.package for p in PROGRAMS),
        ldflags=release.ldflags,
        replaces=release.replaces,
        toolchain=release.toolchain,
    )


def pinned_version(go_mod: str, module: str) -> str | None:
    """The version a go.mod requires of `module`, or None."""
    match = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", go_mod, re.MULTILINE)
    return match[1] if match else None


def program_key(component: GoComponent, program: GoProgram) -> str:
    """Everything that decides one binary: the module we generate (not its go.sum, which
    the first `go test -c` completes), the program, flags and the toolchain."""
    digest = hashlib.sha256()
    for part in (
        f"revision {BUILD_REVISION}",
        gomod.go_version(component.toolchain),
        component.go_mod(),
        component.tools_go(),
        repr(gomod.GO_BUILD_FLAGS),
        repr(gomod.GO_BUILD_ENV),
        repr(component.ldflags),
        repr(program),
    ):
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()[:16]


def program_path(component: GoComponent, program: GoProgram) -> Path:
    key = program_key(component, program)
    return cache_dir() / "bin" / f"{program.name}-{component.version}-{key}" / program.name


class SuiteBinaries:
    """Builds (or finds cached) the suites' programs of one release.

    >>> SuiteBinaries(version, progress).path(E2E_KUBEADM)  # doctest: +SKIP
    PosixPath('~/.cache/labkit/bin/e2e_kubeadm.test-v1.37.2-…/e2e_kubeadm.test')
    """

    def __init__(self, version: KubernetesVersion, progress: Progress) -> None:
        self.version = version
        self.progress = progress
        self._component: GoComponent | None = None
        self._source: Path | None = None

    def path(self, program: GoProgram) -> Path:
        component = self.component()
        output = program_path(component, program)
        if output.exists():
            self.progress.detail(f"{program.name} {self.version}: cached at {output}")
            return output
        with gomod.exclusive(output.parent):
            if output.exists():
                return output
            return self._build(component, program, output)

    def _build(self, component: GoComponent, program: GoProgram, output: Path) -> Path:
        source = self.source()
        partial = output.parent.with_name(output.parent.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        ldflags = " ".join(("-s", "-w", *component.ldflags))
        command = program.command(partial / program.name, ldflags)
        started = time.monotonic()
        self.progress.say(f"   building {program.name} for {self.version} (go {command[1]})")
        with heartbeat(self.progress, f"building {program.name}"):
            gomod.run_go(
                command, source, component, f"build {Path(command[-2]).name}", self.progress.detail
            )
        shutil.rmtree(output.parent, ignore_errors=True)
        partial.rename(output.parent)
        self.progress.say(f"   {program.name} built in {time.monotonic() - started:.0f}s: {output}")
        return output

    def component(self) -> GoComponent:
        if self._component is None:
            self._component = suites_component(self.version, _release_go_mod(self.version))
        return self._component

    def source(self) -> Path:
        """The generated module, resolved once; checks that ginkgo is at the release's pin."""
        if self._source is None:
            component = self.component()
            with heartbeat(self.progress, "resolving the suites' Go module"):
                source = gomod.module_dir(component, self.progress.detail)
            release_pin = pinned_version(_release_go_mod(self.version), GINKGO_MODULE)
            resolved = pinned_version((source / "go.mod").read_text(), GINKGO_MODULE)
            if release_pin is None or resolved != release_pin:
                raise StepFailed(
                    operation="resolve the suites' Go module",
                    reason=f"{GINKGO_MODULE} resolved to {resolved}, but k8s.io/kubernetes "
                    f"{self.version} pins {release_pin}",
                    evidence={"go.mod": (source / "go.mod").read_text()[:3000]},
                )
            self._source = source
        return self._source

    def kubectl(self) -> Path:
        """The release's kubectl, as the node image build made it (cached there): the
        sig-cli specs run it from the host."""
        component = components.kubernetes(self.version, _release_go_mod(self.version))
        return gomod.build(component, self.progress.detail) / "kubectl"

    def module_dir(self) -> Path:
        """The release's k8s.io/kubernetes in the module cache (test/images is there)."""
        output = subprocess.run(
            ["go", "mod", "download", "-json", f"k8s.io/kubernetes@{self.version}"],
            capture_output=True,
            text=True,
            cwd=self.source(),
            env=gomod.go_environment(self.component()),
        )
        if output.returncode != 0:
            raise StepFailed(
                operation="go mod download k8s.io/kubernetes",
                reason=f"exited {output.returncode}",
                evidence={"output": (output.stdout + output.stderr)[-2000:]},
            )
        return Path(json.loads(output.stdout)["Dir"])


_GO_MODS: dict[KubernetesVersion, str] = {}


def _release_go_mod(version: KubernetesVersion) -> str:
    if version not in _GO_MODS:
        from labkit.nodeimage.build import kubernetes_go_mod

        _GO_MODS[version] = kubernetes_go_mod(version)
    return _GO_MODS[version]


def build_log_path() -> Path:
    return cache_dir() / "logs" / f"suite-build-{time.strftime('%Y%m%d-%H%M%S')}.log"
