"""labkit.host without a Docker engine: capability parsing, the runtime decision, doctor
output, and the Go wrapper's own tests."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from labkit.cli import main
from labkit.errors import LabkitError
from labkit.host import doctor, engine, wrapper
from labkit.host.doctor import DoctorCheck, DoctorReport
from labkit.host.kernel import (
    CAPABILITY_NAMES,
    INOTIFY_MINIMUMS,
    cap_bnd_of,
    capabilities_outside,
    cgroup_mode,
    missing_capabilities,
)
from labkit.naming import WRAPPED_RUNTIME

SETUP_SH = Path(wrapper.__file__).with_name("setup.sh")
GO = shutil.which("go") or (str(wrapper.OFFICIAL_GO) if wrapper.OFFICIAL_GO.exists() else None)
needs_go = pytest.mark.skipif(GO is None, reason="go is not installed")


def fake_proc(root: Path, cap_bnd: str, last_cap: int = 40) -> Path:
    (root / "self").mkdir(parents=True)
    (root / "self" / "status").write_text(f"Name:\tpython3\nCapEff:\t0\nCapBnd:\t{cap_bnd}\n")
    (root / "sys" / "kernel").mkdir(parents=True)
    (root / "sys" / "kernel" / "cap_last_cap").write_text(f"{last_cap}\n")
    return root


# --- capabilities -------------------------------------------------------------------------


def test_bounding_set_without_sys_resource() -> None:
    assert capabilities_outside("000001fffeffffff", 40) == {"CAP_SYS_RESOURCE"}


def test_full_bounding_set_lacks_nothing() -> None:
    assert capabilities_outside("000001ffffffffff", 40) == frozenset()


def test_bits_above_cap_last_cap_do_not_count() -> None:
    # A 5.4 kernel stops at CAP_AUDIT_READ (37); its full mask is 0x3fffffffff.
    assert capabilities_outside("0000003fffffffff", 37) == frozenset()
    assert capabilities_outside("0000003fffffffff", 40) == {
        "CAP_PERFMON",
        "CAP_BPF",
        "CAP_CHECKPOINT_RESTORE",
    }


def test_cap_bnd_is_read_from_status_text() -> None:
    assert cap_bnd_of("Name:\tx\nCapPrm:\t0\nCapBnd:\t000001fffeffffff\n") == "000001fffeffffff"
    with pytest.raises(ValueError):
        cap_bnd_of("Name:\tx\n")


def test_missing_capabilities_reads_proc(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, "000001fffeffffff")
    assert missing_capabilities(proc) == {"CAP_SYS_RESOURCE"}


def test_capability_names_match_the_go_wrapper() -> None:
    go_source = (wrapper.capwrap_source_dir() / "caps.go").read_text()
    assert tuple(re.findall(r'^\t"(CAP_[A-Z_]+)",$', go_source, re.M)) == CAPABILITY_NAMES


# --- cgroups ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("files", "mode"),
    [
        (["cgroup.controllers"], "v2"),
        (["unified/cgroup.controllers", "memory/tasks"], "hybrid"),
        (["memory/tasks"], "v1"),
    ],
)
def test_cgroup_mode(tmp_path: Path, files: list[str], mode: str) -> None:
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).touch()
    assert cgroup_mode(tmp_path) == mode


# --- node_runtime -------------------------------------------------------------------------


class FakeClient:
    def __init__(self, runtimes: dict[str, Any]) -> None:
        self.runtimes = runtimes

    def info(self) -> dict[str, Any]:
        return {"Runtimes": self.runtimes}


WRAPPED = {"runc": {"path": "runc"}, WRAPPED_RUNTIME: {"path": "/x/labkit-runc"}}


def lacking(monkeypatch: pytest.MonkeyPatch, caps: frozenset[str]) -> None:
    monkeypatch.setattr(engine, "missing_capabilities", lambda: caps)


def test_nothing_missing_uses_dockers_runc(monkeypatch: pytest.MonkeyPatch) -> None:
    lacking(monkeypatch, frozenset())
    assert engine.node_runtime(FakeClient(WRAPPED)) is None
    assert engine.node_runtime(FakeClient({"runc": {}})) is None


def test_missing_caps_use_the_wrapper(monkeypatch: pytest.MonkeyPatch) -> None:
    lacking(monkeypatch, frozenset({"CAP_SYS_RESOURCE"}))
    assert engine.node_runtime(FakeClient(WRAPPED)) == WRAPPED_RUNTIME


def test_missing_caps_without_the_wrapper_say_make_host(monkeypatch: pytest.MonkeyPatch) -> None:
    lacking(monkeypatch, frozenset({"CAP_SYS_RESOURCE"}))
    with pytest.raises(LabkitError, match=r"CAP_SYS_RESOURCE.*make host"):
        engine.node_runtime(FakeClient({"runc": {"path": "runc"}}))


def test_no_engine_says_where_and_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    with pytest.raises(LabkitError, match=r"unix:///nonexistent/docker.sock.*make host"):
        engine.docker_client(timeout=2)


# --- doctor -------------------------------------------------------------------------------

CHECKS = [
    DoctorCheck("engine", True, "Docker 20.10.24 (API 1.41)"),
    DoctorCheck("node images", False, "no labkit/node image", "run `make image`"),
]


def test_table_lists_every_check_and_the_fixes_of_failures() -> None:
    lines = str(DoctorReport(tuple(CHECKS))).splitlines()
    assert lines[0].split() == ["CHECK", "STATUS", "DETAIL"]
    assert lines[1].split()[:2] == ["engine", "OK"]
    assert lines[2].startswith("node images  FAIL    no labkit/node image")
    assert lines[-2:] == ["To fix:", "  node images: run `make image`"]
    assert "To fix" not in str(DoctorReport(tuple(CHECKS[:1])))


def test_json_output_keeps_every_field() -> None:
    assert json.loads(DoctorReport(tuple(CHECKS)).json_text())[1] == {
        "name": "node images",
        "ok": False,
        "detail": "no labkit/node image",
        "fix": "run `make image`",
    }


def test_doctor_exits_1_when_a_check_fails(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("labkit.host.doctor_checks", lambda: CHECKS)
    assert main(["doctor"]) == 1
    assert "run `make image`" in capsys.readouterr().out
    monkeypatch.setattr("labkit.host.doctor_checks", lambda: CHECKS[:1])
    assert main(["doctor", "--json"]) == 0


def test_without_engine_dependent_checks_fail_with_make_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_engine(timeout: int = 600) -> None:
        raise LabkitError("no Docker engine answers at unix:///x; run `make host`")

    monkeypatch.setattr(doctor, "docker_client", no_engine)
    checks = {check.name: check for check in doctor.doctor_checks()}
    for name in ("engine", "privileged containers", "disk (docker root)", "node images"):
        assert not checks[name].ok
        assert "make host" in checks[name].fix
    assert checks["cgroups"].ok


def test_inotify_below_the_minimums_fails(tmp_path: Path) -> None:
    inotify = tmp_path / "sys" / "fs" / "inotify"
    inotify.mkdir(parents=True)
    (inotify / "max_user_watches").write_text("8192\n")
    (inotify / "max_user_instances").write_text(f"{INOTIFY_MINIMUMS['max_user_instances']}\n")
    check = doctor.check_inotify(tmp_path)
    assert not check.ok
    assert "max_user_watches=524288" in check.fix
    assert "max_user_instances=" not in check.fix


def test_disk_check_looks_at_the_nearest_existing_parent(tmp_path: Path) -> None:
    assert doctor.check_disk("cache", tmp_path / "not" / "yet", 0).ok
    assert not doctor.check_disk("cache", tmp_path, 1 << 62).ok


# --- capwrap ------------------------------------------------------------------------------


def test_setup_sh_tags_the_probe_image_as_python_does() -> None:
    result = subprocess.run(
        ["bash", str(SETUP_SH), "--print-probe-image"], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == wrapper.probe_image()


@needs_go
def test_capwrap_go_tests() -> None:
    assert GO is not None
    result = subprocess.run(
        [GO, "test", "./..."],
        cwd=wrapper.capwrap_source_dir(),
        capture_output=True,
        text=True,
        env={**os.environ, "CGO_ENABLED": "0", "GOTOOLCHAIN": "local"},
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@needs_go
def test_built_capwrap_probe_agrees_with_python(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABKIT_CACHE_DIR", str(tmp_path))
    binary = wrapper.build_capwrap()
    assert binary == tmp_path / "capwrap" / wrapper.capwrap_source_hash() / "labkit-runc"
    assert wrapper.build_capwrap() == binary
    output = subprocess.run([binary, "probe"], capture_output=True, text=True, check=True).stdout
    reported = set(output.split()) - {"none"}
    assert reported == missing_capabilities()
