"""Bad command arguments (issue 21): exit 2, no traceback, the argument named, before a lab
is looked up or anything is built."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from labkit.cli import build_parser, main
from labkit.errors import LabkitError
from labkit.lab.export_logs import export_logs
from labkit.lab.images import load_image


@pytest.fixture(autouse=True)
def no_docker(monkeypatch: pytest.MonkeyPatch) -> None:
    import labkit.host

    def refuse() -> None:
        raise AssertionError("a lab was looked up for bad arguments")

    monkeypatch.setattr(labkit.host, "docker_client", refuse)


def refused(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as caught:
        main(list(argv))
    err = capsys.readouterr().err
    assert caught.value.code == 2, err
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (("check", "lab", "--rule"), "unrecognized arguments: --rule"),
        (("check", "lab", "--str"), "unrecognized arguments: --str"),
        (("lab", "up", "--work", "2"), "unrecognized arguments: --work"),
        (("conformance", "lab", "--par", "2"), "unrecognized arguments: --par"),
        (("--deb", "doctor"), "unrecognized arguments: --deb"),
        (("check", "lab", "--wait", "nan"), "argument --wait: 'nan' is not a number of seconds"),
        (("check", "lab", "--wait", "inf"), "argument --wait: 'inf' is not a number of seconds"),
        (("check", "lab", "--wait", "-1"), "argument --wait: '-1' is not a number of seconds"),
        (("conformance", "lab", "--parallel", "0"), "argument --parallel: '0' is not a whole"),
        (("conformance", "lab", "--parallel", "x"), "argument --parallel: 'x' is not a whole"),
        (("conformance", "lab", "--focus", "a(?=b)"), "argument --focus: 'a(?=b)': Go's regexp"),
        (("conformance", "lab", "--focus", "(?<!x)y"), "has no lookarounds"),
        (("conformance", "lab", "--skip", r"(a)\1"), "argument --skip: '(a)\\\\1': Go's regexp"),
        (("conformance", "lab", "--skip", "(?P<n>a)(?P=n)"), "has no backreferences"),
        (("conformance", "lab", "--skip", "(?>a)"), "has no atomic groups"),
        (("conformance", "lab", "--skip", "a++"), "has no possessive quantifiers"),
        (("conformance", "lab", "--skip", "a("), "argument --skip: 'a(' is not a regular exp"),
        (("conformance", "lab", "--focus", "[z-a]"), "is not a regular expression"),
        (("lab", "load-image", "lab", "Bad/Image"), "argument image: 'Bad/Image' has a repos"),
        (("lab", "load-image", "lab", "a b"), "argument image: 'a b' is not an image reference"),
    ],
)
def test_a_bad_argument_is_refused_naming_it(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], expected: str
) -> None:
    assert expected in refused(capsys, *argv)


@pytest.mark.parametrize(
    "pattern",
    [r"\[Conformance\]", r"sig-(network|node)\b", r"\[Slow\]|\[Serial\]", r"\\1", r"a\z", r"\pL"],
)
def test_what_re2_reads_is_accepted(pattern: str) -> None:
    args = build_parser().parse_args(["conformance", "lab", "--focus", pattern, "--skip", pattern])
    assert (args.focus, args.skip, args.parallel) == ([pattern], [pattern], 1)


def test_export_logs_into_a_file_or_under_one_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "taken"
    file.write_text("")
    assert "argument directory: " in refused(capsys, "lab", "export-logs", "lab", str(file))
    assert f"is in {file}, a file" in refused(
        capsys, "lab", "export-logs", "lab", str(file / "logs")
    )
    assert build_parser().parse_args(["lab", "export-logs", "lab", str(tmp_path / "new")])


def test_export_logs_that_cannot_make_its_directory_is_a_user_error() -> None:
    with pytest.raises(LabkitError, match="cannot write the logs into /proc/labkit-logs"):
        export_logs(SimpleNamespace(name="lab"), "/proc/labkit-logs")


def test_load_image_checks_the_reference_before_asking_docker() -> None:
    with pytest.raises(LabkitError, match="image 'x::y' is not an image reference"):
        load_image(None, "x::y", [])


def test_a_huge_name_or_release_is_not_echoed_back_whole(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import labkit.host

    client = SimpleNamespace(
        api=SimpleNamespace(containers=lambda **kwargs: []),
        containers=SimpleNamespace(list=lambda **kwargs: []),
        networks=SimpleNamespace(list=lambda **kwargs: []),
    )
    monkeypatch.setattr(labkit.host, "docker_client", lambda: client)
    monkeypatch.setattr("labkit.lab.node.find_nodes", lambda client, name: [])
    monkeypatch.setattr("labkit.lab.model.find_nodes", lambda client, name: [])
    huge = "a" * 200_000
    for argv in (("lab", "status", huge), ("image", "build", "--kubernetes-version", huge)):
        assert main(list(argv)) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err, err
        assert "(200000 characters)" in err and len(err) < 1000, err[:300]
