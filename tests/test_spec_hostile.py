"""Malformed, hostile and careless lab specs (issue 21): each is refused when it is read,
exit 2, no traceback, naming the field, before Docker is asked anything."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from labkit.cli import main
from labkit.errors import LabkitError
from labkit.spec import LabSpec, node_options
from labkit.spec.source import MAX_SPEC_BYTES

WORKER = "demo-worker"


@pytest.fixture(autouse=True)
def no_docker(monkeypatch: pytest.MonkeyPatch) -> None:
    """A refusal must come before the engine is asked anything."""
    import labkit.host

    def refuse() -> None:
        raise AssertionError("Docker was asked for bad input")

    monkeypatch.setattr(labkit.host, "docker_client", refuse)
    monkeypatch.setattr(node_options, "host_capacity", lambda: (4, 8 * 2**30))


def up(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """`labkit lab up ARGS`: exit 2 and no traceback; the message."""
    code = main(["lab", "up", *args])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    return err


def up_file(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str | bytes) -> str:
    path = tmp_path / "lab.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return up(capsys, "-f", str(path))


def error_of(data: dict[str, Any], base_dir: Path | None = None) -> str:
    with pytest.raises(LabkitError) as caught:
        LabSpec.from_dict(data, source="lab.yaml", base_dir=base_dir)
    message = str(caught.value)
    assert message.startswith("lab.yaml: "), message
    return message


def worker(**entry: Any) -> dict[str, Any]:
    return {"name": "demo", "workers": 1, "nodes": {WORKER: entry}}


# --- any file given to -f ------------------------------------------------------------------

LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n" for i in range(8)
)
NESTED_PATCH_LAUGHS = (
    "kubeadm:\n  ClusterConfiguration:\n    x: &a [x, x, x, x, x, x, x, x, x, x]\n"
    + "".join(
        f"    {chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n"
        for i in range(8)
    )
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("resources: {cpus: .nan}", "resources.cpus: nan is not a number of CPUs"),
        ("resources: {cpus: .inf}", "resources.cpus: inf is not a number of CPUs"),
        ("resources: {cpus: -.inf}", "resources.cpus: -inf is not a number of CPUs"),
        (
            "workers: 1\nnodes: {labkit-worker: {resources: {cpus: .NaN}}}",
            "nodes.labkit-worker.resources.cpus: nan is not",
        ),
        (b"name: caf\xe9\n", "not UTF-8 text (byte 9 is 0xe9)"),
        (b"\x7fELF\x02\x01\x01\x00\xff\x00", "not UTF-8 text (byte 8 is 0xff)"),
        (b"name: a\x00b\n", "not text (it holds NUL bytes)"),
        ("x: " + "[" * 600 + "]" * 600, "nested deeper than 64 levels"),
        ("".join(f"{' ' * 2 * i}k{i}:\n" for i in range(200)) + " " * 400 + "v", "nested deeper"),
        ("kubeadm: {ClusterConfiguration: " + "{a: " * 100 + "1" + "}" * 101, "nested deeper"),
        (LAUGHS, "aliases expand it to more than 100000 values"),
        (NESTED_PATCH_LAUGHS, "aliases expand it to more than 100000 values"),
        ("a: &a [*a]", "a YAML alias refers to a value that contains it"),
    ],
    ids=[
        "cpus-nan",
        "cpus-inf",
        "cpus-minus-inf",
        "node-cpus-nan",
        "latin-1",
        "binary",
        "nul",
        "flow-nested-600",
        "block-nested-200",
        "patch-nested-100",
        "billion-laughs",
        "billion-laughs-in-patch",
        "recursive-alias",
    ],
)
def test_a_bad_file_is_refused_naming_what(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str | bytes, expected: str
) -> None:
    started = time.monotonic()
    assert expected in up_file(tmp_path, capsys, text)
    assert time.monotonic() - started < 5, "refused at once"


def test_anything_but_a_regular_file_is_refused_before_it_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)  # opening it to read would wait for a writer
    assert "not a regular file but a FIFO" in up(capsys, "-f", str(fifo))
    assert "not a regular file but a character device" in up(capsys, "-f", "/dev/zero")
    assert "not a regular file but a directory" in up(capsys, "-f", str(tmp_path))
    assert "cannot read the lab spec: No such file" in up(capsys, "-f", str(tmp_path / "nope"))


def test_a_huge_file_is_refused_by_its_size(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    huge = tmp_path / "huge.yaml"
    with huge.open("wb") as stream:
        stream.truncate(MAX_SPEC_BYTES + 1)
    assert f"{MAX_SPEC_BYTES + 1} bytes is too large for a lab spec" in up(capsys, "-f", str(huge))


# --- refused when read ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"name": "lab\n"}, "name: 'lab\\n' is not a lowercase DNS label"),
        ({"networking": {"dnsDomain": "cluster.local\n"}}, "networking.dnsDomain: 'cluster.local"),
        ({"name": "bridge"}, "name: 'bridge' is one of Docker's own networks"),
        ({"name": "host"}, "name: 'host' is one of Docker's own networks"),
        (
            {"networking": {"podSubnet": "10.201.0.0/16"}},
            "networking.podSubnet: 10.201.0.0/16 overlaps the pool labkit takes lab networks",
        ),
        (
            {"networking": {"serviceSubnet": "10.200.0.0/15"}},
            "networking.serviceSubnet: 10.200.0.0/15 overlaps the pool labkit takes",
        ),
        ({"networking": {"podSubnet": "127.0.0.0/16"}}, "127.0.0.0/16 overlaps loopback"),
        ({"networking": {"podSubnet": "169.254.0.0/16"}}, "overlaps link-local"),
        ({"networking": {"serviceSubnet": "224.0.0.0/16"}}, "serviceSubnet: 224.0.0.0/16 overlaps"),
        ({"networking": {"podSubnet": "0.0.0.0/16"}}, "podSubnet: 0.0.0.0/16 overlaps 'this net"),
        (
            {"networking": {"podSubnet": "10.0.0.0/255.255.0.0"}},
            "podSubnet: '10.0.0.0/255.255.0.0': write it as an address and a prefix length: "
            "10.0.0.0/16",
        ),
        (
            {"networking": {"podSubnet": "10.244.1.0/16"}},
            "'10.244.1.0/16' has host bits set; did you mean 10.244.0.0/16?",
        ),
        (
            {"kubeadm": {"ClusterConfiguration": {"apiServer": {"extraArgs": "--v=4"}}}},
            "kubeadm.ClusterConfiguration.apiServer.extraArgs: kubeadm v1beta4 takes a list of "
            "{name, value}, not '--v=4'",
        ),
        (
            worker(kubeadm={"JoinConfiguration": {"nodeRegistration": {"kubeletExtraArgs": "x"}}}),
            "nodes.demo-worker.kubeadm.JoinConfiguration.nodeRegistration.kubeletExtraArgs: "
            "kubeadm v1beta4 takes a list",
        ),
        ({"image": "Labkit/Node:v1"}, "image: 'Labkit/Node:v1' has a repository name that is not"),
        ({"image": "labkit/node::v1"}, "image: 'labkit/node::v1' is not an image reference"),
        ({"image": "labkit/node@sha256:zz"}, "is not an image reference"),
        ({"image": "labkit/node:v1\n"}, "is not an image reference"),
        ({"image": "-labkit"}, "is not an image reference"),
        (worker(extraMounts=[{"hostPath": ".", "containerPath": "//var"}]), "/var is where labkit"),
        (
            worker(extraMounts=[{"hostPath": ".", "containerPath": "/etc/"}]),
            "containerPath: /etc is a system folder of the node",
        ),
        (
            worker(extraMounts=[{"hostPath": ".", "containerPath": "/usr"}]),
            "/usr is a system folder",
        ),
        (
            worker(extraMounts=[{"hostPath": ".", "containerPath": "/proc/../dev"}]),
            "/dev is a system folder",
        ),
        (
            worker(extraMounts=[{"hostPath": "/", "containerPath": "/host"}]),
            "hostPath: '/' (/) is the host's root or in it: a read-write mount",
        ),
        (
            worker(extraMounts=[{"hostPath": "/etc/..//etc", "containerPath": "/host-etc"}]),
            "(/etc) is the host's /etc or in it",
        ),
        (
            worker(extraMounts=[{"hostPath": "/usr/share", "containerPath": "/share"}]),
            "(/usr/share) is the host's /usr or in it",
        ),
        (worker(extraMounts=[{"hostPath": "/sys", "containerPath": "/s"}]), "the host's /sys"),
        (
            worker(extraMounts=[{"hostPath": "/dev", "containerPath": "/d", "readOnly": False}]),
            "the host's /dev",
        ),
    ],
)
def test_refused_when_read(data: dict[str, Any], expected: str) -> None:
    assert expected in error_of(data)


def test_a_host_path_is_resolved_and_a_link_to_the_hosts_root_is_refused(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "root").symlink_to("/")
    resolved = LabSpec.from_dict(
        worker(extraMounts=[{"hostPath": "data/../data/.", "containerPath": "/data"}]),
        base_dir=tmp_path,
    )
    assert resolved.nodes[WORKER].extra_mounts[0].host_path == (tmp_path / "data").resolve()
    mounts = [{"hostPath": "root", "containerPath": "/host"}]
    assert "'root' (/) is the host's root" in error_of(worker(extraMounts=mounts), tmp_path)
    read_only = LabSpec.from_dict(
        worker(extraMounts=[{**mounts[0], "readOnly": True}]), base_dir=tmp_path
    )
    assert read_only.nodes[WORKER].extra_mounts[0].host_path == Path("/")
    (tmp_path / "loop").symlink_to("loop")
    mounts = [{"hostPath": "loop", "containerPath": "/loop"}]
    assert "loop' does not exist" in error_of(worker(extraMounts=mounts), tmp_path)


def test_read_only_mounts_of_host_system_folders_are_accepted() -> None:
    for host in ("/", "/etc", "/usr/share", "/proc"):
        mount = {"hostPath": host, "containerPath": "/host", "readOnly": True}
        assert LabSpec.from_dict(worker(extraMounts=[mount])).nodes[WORKER].extra_mounts


@pytest.mark.parametrize(
    "image",
    [
        "labkit/node:v1.37.2",
        "docker.io/library/busybox",
        "localhost:5000/team/app_1.x-y:t.2",
        "registry.example/a/b@sha256:" + "a" * 64,
        "[::1]:5000/app:v1",
    ],
)
def test_good_image_references_are_accepted(image: str) -> None:
    assert LabSpec.from_dict({"image": image}).image == image


def test_a_name_given_on_the_command_line_is_checked_as_the_files(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert "defaults (with name=lab\n): name: 'lab\\n' is not a lowercase DNS label" in up(
        capsys, "--name", "lab\n"
    )
    assert "name: 'bridge' is one of Docker's own networks" in up(capsys, "--name", "bridge")


def test_a_long_name_is_not_echoed_back_whole(capsys: pytest.CaptureFixture[str]) -> None:
    message = up(capsys, "--name", "a" * 200_000)
    assert "(200000 characters)" in message
    assert len(message) < 1000
    assert len(error_of({"name": "A" * 200_000})) < 500
    assert len(error_of({"workers": ["x" * 200_000]})) < 500
    assert len(error_of({"k" * 200_000: 1})) < 500
