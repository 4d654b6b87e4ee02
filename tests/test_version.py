"""`labkit --version` and pytest's header (issue 30): labkit's version as the installed
package's metadata says it, the Kubernetes releases, the node images on this host; a Docker
engine that does not answer is one line. And CHANGELOG.md's newest entry is this version."""

from __future__ import annotations

import importlib.metadata
import json
import re
import tomllib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import docker.errors
import pytest

import labkit.host
from labkit.cli import main
from labkit.errors import LabkitError
from labkit.naming import (
    LABEL_COMPONENT_PREFIX,
    LABEL_INPUTS,
    LABEL_KUBERNETES_VERSION,
    LABEL_MANAGED,
)
from labkit.versions import DEFAULT_KUBERNETES_VERSION, SUPPORTED_MINORS

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
INSTALLED = importlib.metadata.version("labkit")


def image(tags: list[str], version: str | None, created: str = "2026-12-07T05:13:56.1Z") -> Any:
    labels = {LABEL_MANAGED: "true", LABEL_INPUTS: f"inputs-of-{version}"}
    if version:
        labels[LABEL_KUBERNETES_VERSION] = version
        labels[f"{LABEL_COMPONENT_PREFIX}containerd"] = "v2.4.2"
        labels[f"{LABEL_COMPONENT_PREFIX}kubernetes"] = version
    return SimpleNamespace(
        tags=tags, labels=labels, id=f"sha256:{'ab' * 32}", attrs={"Created": created}
    )


class FakeImages:
    def __init__(self, images: list[Any]) -> None:
        self.images = images

    def list(self, filters: dict[str, str]) -> list[Any]:
        assert filters == {"label": LABEL_KUBERNETES_VERSION}
        return [i for i in self.images if LABEL_KUBERNETES_VERSION in i.labels]


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The images the fake engine holds; the test adds to them."""
    held: list[Any] = []
    client = SimpleNamespace(images=FakeImages(held))
    monkeypatch.setattr(labkit.host, "docker_client", lambda timeout=600: client)
    return held


def version_output(capsys: pytest.CaptureFixture[str], *args: str) -> list[str]:
    assert main(["--version", *args]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return out.splitlines()


def test_the_installed_metadata_is_pyprojects_version() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert declared == INSTALLED, (
        f"pyproject.toml says {declared}, the installed labkit {INSTALLED}: `make install`"
    )


def test_version_names_labkit_the_releases_and_each_node_image(
    engine: list[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    engine.extend(
        [
            image(["labkit/node:v1.36.3"], "v1.36.3"),
            image(["labkit/node:v1.37.2", "mine:latest"], "v1.37.2", created=""),
            image([], "v1.35.4"),  # untagged by a rebuild: no lab runs from it
            image(["labkit/toolbox:bookworm"], None),
        ]
    )

    lines = version_output(capsys)

    minors = ", ".join(f"v1.{minor}" for minor in SUPPORTED_MINORS)
    assert lines == [
        f"labkit {INSTALLED}",
        f"Kubernetes {DEFAULT_KUBERNETES_VERSION} by default; supported minors {minors}",
        "node image labkit/node:v1.37.2, mine:latest: Kubernetes v1.37.2, inputs "
        "inputs-of-v1.37.2, built when unknown",
        "node image labkit/node:v1.36.3: Kubernetes v1.36.3, inputs inputs-of-v1.36.3, "
        "built 2026-12-07 05:13:56 UTC",
    ]


def test_version_json_is_the_same_for_scripts(
    engine: list[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    engine.append(image(["labkit/node:v1.37.2"], "v1.37.2"))

    found = json.loads("\n".join(version_output(capsys, "--json")))

    assert found == {
        "labkit": INSTALLED,
        "kubernetes": {
            "default": DEFAULT_KUBERNETES_VERSION,
            "supported_minors": [f"v1.{minor}" for minor in SUPPORTED_MINORS],
        },
        "node_images": [
            {
                "references": ["labkit/node:v1.37.2"],
                "kubernetes_version": "v1.37.2",
                "inputs": "inputs-of-v1.37.2",
                "id": "ab" * 6,
                "created": "2026-12-07T05:13:56Z",
                "components": {"containerd": "v2.4.2", "kubernetes": "v1.37.2"},
            }
        ],
        "docker_problem": None,
    }


def test_no_node_image_says_how_to_build_one(
    engine: list[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert version_output(capsys)[2:] == [
        "node images: none built on this host (`labkit image build`)"
    ]


def engine_missing(timeout: int = 600) -> Any:
    try:
        raise docker.errors.DockerException("Error while fetching server API version: refused")
    except docker.errors.DockerException as error:
        raise LabkitError("no Docker engine answers at unix:///x.sock; run `make host`") from error


def test_without_docker_the_images_are_one_line_and_the_exit_is_0(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(labkit.host, "docker_client", engine_missing)
    monkeypatch.setenv("DOCKER_HOST", "unix:///x.sock")

    lines = version_output(capsys)

    assert lines[0] == f"labkit {INSTALLED}"
    assert lines[2:] == [
        "node images: not listed, Docker is not reachable at unix:///x.sock "
        "(Error while fetching server API version: refused)"
    ]
    assert json.loads("\n".join(version_output(capsys, "--json")))["node_images"] is None


def test_a_command_is_still_required_without_version(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in ([], ["--json"]):
        with pytest.raises(SystemExit) as exit:
            main(argv)
        assert exit.value.code == 2
    assert "the following arguments are required: COMMAND" in capsys.readouterr().err


def test_pytests_header_says_the_same_even_without_docker(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile("def test_nothing(): pass")
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")

    result = pytester.runpytest_subprocess()

    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            f"labkit {INSTALLED}",
            f"Kubernetes {DEFAULT_KUBERNETES_VERSION} by default; supported minors *",
            "node images: not listed, Docker is not reachable at unix:///nonexistent/docker.sock*",
        ]
    )


def test_the_changelogs_newest_entry_is_this_version() -> None:
    entries = re.findall(r"^## \[([^\]]+)\]", (ROOT / "CHANGELOG.md").read_text(), re.MULTILINE)
    assert entries and entries[0] == INSTALLED, entries[:3]


def test_image_list_shows_every_components_version_in_the_builds_order(
    engine: list[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    engine.append(image(["labkit/node:v1.37.2"], "v1.37.2"))
    old = image(["labkit/node:v1.36.3"], "v1.36.3")
    old.labels = {k: v for k, v in old.labels.items() if LABEL_COMPONENT_PREFIX not in k}
    engine.append(old)

    assert main(["image", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == "  kubernetes v1.37.2, containerd v2.4.2"
    assert lines[3].startswith("  components not recorded")
    assert main(["image", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["node_images"]
    assert listed[0]["components"] == {"kubernetes": "v1.37.2", "containerd": "v2.4.2"}
    assert listed[1]["components"] == {}
