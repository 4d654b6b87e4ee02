"""Test images as e2e.test lists them and as labkit builds them: the list read (and
refused when it is not one), and the Dockerfiles keeping what the specs depend on."""

from __future__ import annotations

from pathlib import Path

import pytest

from labkit.errors import StepFailed
from labkit.suites import busybox
from labkit.suites.busybox import with_changes
from labkit.suites.images import (
    BusyboxImage,
    E2EImage,
    parse_image_list,
    tags_for,
)

# The head of `e2e.test --list-images` at v1.37.2 (test/utils/image/manifest.go).
LISTED = """\
invalid.registry.k8s.io/invalid/alpine:3.1
gcr.io/k8s-authenticated-test/agnhost:2.6
registry.k8s.io/e2e-test-images/agnhost:2.55
registry.k8s.io/e2e-test-images/agnhost:2.66.1
registry.k8s.io/e2e-test-images/busybox:1.37.0-2
registry.k8s.io/e2e-test-images/nginx:1.27.0-2
registry.k8s.io/e2e-test-images/nginx:1.28.0-2
registry.k8s.io/e2e-test-images/node-perf/npb-ep:1.6.0
registry.k8s.io/etcd:3.7.0-0
registry.k8s.io/pause:3.10.2
"""


def test_the_list_is_read_by_name_and_every_tag_of_a_name_is_kept() -> None:
    listed = parse_image_list(LISTED)
    assert len(listed) == 10
    assert tags_for(listed, "agnhost") == (
        "registry.k8s.io/e2e-test-images/agnhost:2.55",
        "registry.k8s.io/e2e-test-images/agnhost:2.66.1",
    )
    assert tags_for(listed, "pause") == ()  # not an e2e image: the node has kubeadm's
    assert tags_for(listed, "httpd") == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "it listed no image"),
        (LISTED + "Running Suite: Kubernetes e2e suite\n", "line 11: 'Running Suite"),
        ("registry.k8s.io/e2e-test-images/agnhost\n", "line 1: "),
    ],
)
def test_output_that_is_not_a_list_of_images_is_refused(text: str, message: str) -> None:
    with pytest.raises(StepFailed) as refused:
        parse_image_list(text)
    assert message in str(refused.value)


def test_agnhost_keeps_its_entrypoint_command_and_what_the_image_defines() -> None:
    recipe = E2EImage(
        reference="registry.k8s.io/e2e-test-images/agnhost:2.66.1",
        base="labkit/test-images-rootfs:x",
        files={"/agnhost": Path("/bin/true")},
        run=("ln -s agnhost /agnhost-2",),
        entrypoint=("/agnhost",),
        command=("pause",),
        user="1000",
    )
    lines = recipe.dockerfile().splitlines()
    assert lines[0] == "FROM labkit/test-images-rootfs:x"
    assert 'ENTRYPOINT ["/agnhost"]' in lines and 'CMD ["pause"]' in lines
    assert 'RUN ["/bin/sh", "-c", "ln -s agnhost /agnhost-2"]' in lines
    assert lines.index("USER 1000") > lines.index(
        'RUN ["/bin/sh", "-c", "ln -s agnhost /agnhost-2"]'
    )


def test_busybox_installs_its_applets_before_any_shell_step() -> None:
    recipe = BusyboxImage(
        reference="b:1", files={"/bin/busybox": Path("/bin/true")}, run=("mkdir /tmp",)
    )
    runs = [line for line in recipe.dockerfile().splitlines() if line.startswith("RUN")]
    assert runs == [
        'RUN ["/bin/busybox", "--install", "-s", "/bin"]',
        'RUN ["/bin/sh", "-c", "mkdir /tmp"]',
    ]
    assert recipe.dockerfile().startswith("FROM scratch\n")


def test_a_change_of_command_changes_the_inputs_key() -> None:
    one = E2EImage(reference="x:1", files={}, command=("nnp",))
    other = E2EImage(reference="x:1", files={}, command=("sh",))
    assert one.inputs_key() != other.inputs_key()


# Debian's busybox-static configuration, as its source package has it (the lines around the
# option labkit turns on).
STATIC_CONFIG = """\
CONFIG_ASH=y
CONFIG_SH_IS_ASH=y
# CONFIG_FEATURE_DI_ENV_HACK is not set
CONFIG_STATIC=y
"""


def test_busybox_is_configured_with_ash_keeping_every_variable() -> None:
    config = with_changes(STATIC_CONFIG, busybox.CONFIG_CHANGES).splitlines()
    assert "CONFIG_FEATURE_DI_ENV_HACK=y" in config
    assert "# CONFIG_FEATURE_DI_ENV_HACK is not set" not in config
    assert {"CONFIG_ASH=y", "CONFIG_SH_IS_ASH=y", "CONFIG_STATIC=y"} <= set(config)


def test_an_option_set_already_is_set_once() -> None:
    config = with_changes("CONFIG_A=n\nCONFIG_B=y\n", {"CONFIG_A": "y"})
    assert config == "CONFIG_B=y\nCONFIG_A=y\n"


def test_the_busybox_key_follows_debians_indexes_and_labkits_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(busybox.rootfs, "rootfs_key", lambda packages: "index-1")
    first = busybox.busybox_key()
    monkeypatch.setattr(busybox.rootfs, "rootfs_key", lambda packages: "index-2")
    assert busybox.busybox_key() != first
    monkeypatch.setattr(busybox, "CONFIG_CHANGES", {"CONFIG_FEATURE_DI_ENV_HACK": "n"})
    monkeypatch.setattr(busybox.rootfs, "rootfs_key", lambda packages: "index-1")
    assert busybox.busybox_key() != first
