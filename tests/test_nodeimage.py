"""Versions, ldflags, image tags and cache keys of the node image build (no Docker)."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import docker.errors
import pytest
from kubeadm_output import IMAGES_LIST_OUTPUT, KLOG_WARNING

from labkit.errors import LabkitError, StepFailed
from labkit.nodeimage import build as build_module
from labkit.nodeimage import components, gomod
from labkit.nodeimage.components import KubeadmImages
from labkit.nodeimage.images import ImageRecipe, save_named
from labkit.versions import DEFAULT_KUBERNETES_VERSION, DEFAULT_VERSION, KubernetesVersion


def test_default_is_a_1_37_release() -> None:
    assert re.fullmatch(r"v1\.37\.\d+", DEFAULT_KUBERNETES_VERSION)
    assert DEFAULT_VERSION.refuses_cgroup_v1
    assert DEFAULT_VERSION.staging_version == "v0.37." + DEFAULT_KUBERNETES_VERSION.rsplit(".")[-1]


@pytest.mark.parametrize("text", ["1.34.4", "v1.34", "latest", "v2.0.0", "v1.34.4-pre.0"])
def test_version_rejects_what_is_not_a_release(text: str) -> None:
    with pytest.raises(LabkitError, match=r"--kubernetes-version.*expected vMAJOR\.MINOR\.PATCH"):
        KubernetesVersion.parse(text, field="--kubernetes-version")


def test_version_rejects_unsupported_minor() -> None:
    with pytest.raises(LabkitError, match=r"v1\.99\.0 is not supported"):
        KubernetesVersion.parse("v1.99.0")


def test_1_35_needs_the_cgroup_v1_override() -> None:
    assert KubernetesVersion.parse("v1.35.4").refuses_cgroup_v1


def test_kubernetes_ldflags_set_the_version_kubeadm_prints() -> None:
    component = components.kubernetes(DEFAULT_VERSION, "go 1.26.0\n")
    flags = " ".join(component.ldflags)
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        assert f"-X {package}.gitVersion={DEFAULT_VERSION}" in flags
        assert f"-X {package}.gitMinor={DEFAULT_VERSION.minor}" in flags
        assert f"-X {package}.gitTreeState=clean" in flags


def test_staging_modules_are_replaced_by_their_release_tags() -> None:
    go_mod = (
        "replace (\n\tk8s.io/api => ./staging/src/k8s.io/api\n"
        "\tk8s.io/client-go => ./staging/src/k8s.io/client-go\n)\n"
    )
    staging = components.staging_modules(go_mod)
    assert staging == ["k8s.io/api", "k8s.io/client-go"]
    rendered = components.kubernetes(KubernetesVersion.parse("v1.36.1"), go_mod).go_mod()
    assert "\tk8s.io/api => k8s.io/api v0.36.1" in rendered
    assert "require k8s.io/kubernetes v1.36.1" in rendered


def test_committed_kubernetes_module_pins_the_default_release() -> None:
    go_mod = (gomod.COMMITTED_MODULES / "kubernetes" / "go.mod").read_text()
    pinned = rf"^(require )?\s*k8s.io/kubernetes {DEFAULT_KUBERNETES_VERSION}$"
    assert re.search(pinned, go_mod, re.M)
    assert f"k8s.io/api => k8s.io/api {DEFAULT_VERSION.staging_version}" in go_mod
    assert (gomod.COMMITTED_MODULES / "kubernetes" / "go.sum").stat().st_size > 0


def test_image_tags_come_from_kubeadm() -> None:
    images = KubeadmImages.parse(IMAGES_LIST_OUTPUT)
    assert images.references["coredns"] == "registry.k8s.io/coredns/coredns:v1.12.1"
    assert images.tag("pause") == "3.10.1"
    assert images.etcd_release == "v3.6.5"
    assert components.etcd(images).version == "v3.6.5"
    assert components.coredns(images).version == "v1.12.1"


def test_kubeadm_log_lines_in_the_listing_are_skipped() -> None:
    images = KubeadmImages.parse(f"{KLOG_WARNING}\n{IMAGES_LIST_OUTPUT}")
    assert images == KubeadmImages.parse(IMAGES_LIST_OUTPUT)
    assert images.tag("etcd") == "3.6.5-0"


def test_kubeadm_listing_without_etcd_is_an_error() -> None:
    with pytest.raises(LabkitError, match="etcd"):
        KubeadmImages.parse("registry.k8s.io/kube-apiserver:v1.34.4\nregistry.k8s.io/pause:3.10.1")


def test_binary_names_skip_major_version_suffixes() -> None:
    assert components.etcd(KubeadmImages.parse(IMAGES_LIST_OUTPUT)).binaries() == ("server",)
    assert components.cri_tools().binaries() == ("crictl",)


def test_build_key_changes_with_sources_and_flags(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(gomod, "go_version", lambda toolchain="": "go1.26.8")
    (tmp_path / "go.mod").write_text("module x\n")
    (tmp_path / "go.sum").write_text("a h1:x\n")
    component = components.pause()
    key = gomod.build_key(component, tmp_path)
    assert gomod.build_key(component, tmp_path) == key
    (tmp_path / "go.sum").write_text("a h1:y\n")
    assert gomod.build_key(component, tmp_path) != key
    changed = gomod.GoComponent(**{**component.__dict__, "ldflags": ("-X a.b=c",)})
    assert gomod.build_key(changed, tmp_path) != gomod.build_key(component, tmp_path)


def test_image_inputs_key_follows_file_content(tmp_path: Path) -> None:
    binary = tmp_path / "kube-apiserver"
    binary.write_bytes(b"one")
    recipe = ImageRecipe(
        "registry.k8s.io/kube-apiserver:v1.34.4", {"/usr/local/bin/kube-apiserver": binary}
    )
    key = recipe.inputs_key()
    binary.write_bytes(b"two")
    assert recipe.inputs_key() != key
    assert "FROM scratch" in recipe.dockerfile()
    assert "COPY file0 /usr/local/bin/kube-apiserver" in recipe.dockerfile()


# --- the image a rebuild replaces ---


class FakeImages:
    """`client.images` with tags by id; `remove` refuses an image a container uses."""

    def __init__(self, tags: dict[str, list[str]], in_use: set[str] = frozenset()) -> None:
        self.tags, self.in_use, self.removed = tags, in_use, []

    def get(self, name: str) -> SimpleNamespace:
        for image_id, tags in self.tags.items():
            if name == image_id or name in tags:
                return SimpleNamespace(id=image_id, tags=tags)
        raise docker.errors.ImageNotFound(name)

    def remove(self, image_id: str) -> None:
        if image_id in self.in_use:
            raise docker.errors.APIError("conflict: image is being used by a container")
        self.removed.append(image_id)


def replacing(images: FakeImages) -> tuple[FakeImages, list[str]]:
    said: list[str] = []
    build = SimpleNamespace(
        client=SimpleNamespace(images=images),
        reference="labkit/node:v1",
        progress=SimpleNamespace(say=said.append),
    )
    build_module._remove_if_untagged(build, "sha256:" + "0" * 64)
    return images, said


def test_the_replaced_node_image_is_removed_once_nothing_names_it() -> None:
    images, said = replacing(
        FakeImages({"sha256:" + "0" * 64: [], "sha256:" + "1" * 64: ["labkit/node:v1"]})
    )
    assert images.removed == ["sha256:" + "0" * 64]
    assert "removed the image it replaces" in said[0]


def test_a_replaced_image_with_another_tag_or_a_container_stays() -> None:
    tagged, _ = replacing(
        FakeImages({"sha256:" + "0" * 64: ["mine:keep"], "sha256:" + "1" * 64: ["labkit/node:v1"]})
    )
    assert tagged.removed == []
    used, said = replacing(
        FakeImages(
            {"sha256:" + "0" * 64: [], "sha256:" + "1" * 64: ["labkit/node:v1"]},
            in_use={"sha256:" + "0" * 64},
        )
    )
    assert used.removed == [] and "stays" in said[0]


def test_an_up_to_date_image_is_not_its_own_replacement() -> None:
    images, said = replacing(FakeImages({"sha256:" + "0" * 64: ["labkit/node:v1"]}))
    assert images.removed == [] and said == []


class FakeImage:
    def __init__(self, tags: list[str]) -> None:
        self.tags = tags
        self.saved_as: object = None

    def save(self, named: object = False) -> list[bytes]:
        self.saved_as = named
        return [b""]


@pytest.mark.parametrize(
    ("tags", "reference", "saved_as"),
    [
        # Another release's pause has the same bytes: its tag must not name this one.
        (["registry.k8s.io/pause:3.10.1", "registry.k8s.io/pause:3.10.2"],
         "registry.k8s.io/pause:3.10.2", "registry.k8s.io/pause:3.10.2"),
        # Docker lists a docker.io reference without its registry.
        (["labkit/toolbox:bookworm"],
         "docker.io/labkit/toolbox:bookworm", "labkit/toolbox:bookworm"),
    ],
)  # fmt: skip
def test_an_image_is_saved_under_the_reference_asked_for(
    tags: list[str], reference: str, saved_as: str
) -> None:
    image = FakeImage(tags)
    save_named(image, reference)  # type: ignore[arg-type]
    assert image.saved_as == saved_as


def test_generated_modules_of_one_version_with_other_replaces_do_not_share_a_go_mod(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABKIT_CACHE_DIR", str(tmp_path))
    written: list[Path] = []

    def write_module(component: gomod.GoComponent, target: Path, log: object) -> None:
        target.mkdir(parents=True)
        (target / "go.mod").write_text(component.go_mod())
        (target / "go.sum").write_text("")
        written.append(target)

    monkeypatch.setattr(gomod, "write_module", write_module)
    base = gomod.GoComponent("crictl", "example.org/tools", "v9.9.9", ("example.org/tools/x",))
    other = gomod.GoComponent(
        "crictl", "example.org/tools", "v9.9.9", ("example.org/tools/x",),
        replaces=(("k8s.io/api", "k8s.io/api v0.36.3"),),
    )  # fmt: skip
    first, second = gomod.module_dir(base, print), gomod.module_dir(other, print)
    assert first != second and written == [first, second]
    assert "k8s.io/api v0.36.3" in (second / "go.mod").read_text()
    # The same inputs find their module again.
    assert gomod.module_dir(base, print) == first and len(written) == 2


def test_the_runtime_is_built_at_the_pinned_releases() -> None:
    from labkit import versions

    containerd = components.containerd()
    assert containerd.version == versions.CONTAINERD_VERSION
    assert containerd.binaries() == ("containerd", "containerd-shim-runc-v2", "ctr")
    assert f"-X {containerd.module}/version.Version={versions.CONTAINERD_VERSION}" in (
        containerd.ldflags
    )
    runc = components.runc()
    assert (runc.version, runc.binaries()) == (versions.RUNC_VERSION, ("runc",))
    # seccomp needs cgo and libseccomp, linked statically so the node needs no library.
    assert "seccomp" in runc.tags and runc.extra_env["CGO_ENABLED"] == "1"
    assert "-extldflags=-static" in runc.ldflags
    plugins = components.cni_plugins()
    # What flannel's CNI config chains (bridge, host-local, portmap) and every pod's loopback.
    assert {"bridge", "host-local", "portmap", "loopback"} <= set(plugins.binaries())


def test_build_tags_are_part_of_the_build_key(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(gomod, "go_version", lambda toolchain="": "go1.26.8")
    (tmp_path / "go.mod").write_text("module x\n")
    component = components.runc()
    tagged = gomod.GoComponent(**{**component.__dict__, "tags": ("seccomp",)})
    assert gomod.build_key(tagged, tmp_path) != gomod.build_key(component, tmp_path)


def test_containerd_config_names_one_hosts_directory_and_the_test_handler() -> None:
    import tomllib

    template = (build_module.FILES / "containerd-config.toml.tmpl").read_text()
    config = tomllib.loads(template.replace("${pause_image}", "registry.k8s.io/pause:3.10.2"))
    assert config["version"] == 3
    images = config["plugins"]["io.containerd.cri.v1.images"]
    assert images["registry"]["config_path"] == "/etc/containerd/certs.d"
    assert images["pinned_images"]["sandbox"] == "registry.k8s.io/pause:3.10.2"
    runtimes = config["plugins"]["io.containerd.cri.v1.runtime"]["containerd"]["runtimes"]
    assert set(runtimes) == {"runc", "test-handler"}
    # The kubelet's cgroup driver (systemd in labkit's KubeletConfiguration) comes from here.
    assert all(runtime["options"]["SystemdCgroup"] for runtime in runtimes.values())
    # labkit-entrypoint turns this comment into BinaryName under every runtime.
    assert template.count("# labkit-entrypoint sets BinaryName") == len(runtimes)


def test_no_debian_runtime_package_is_in_the_node() -> None:
    from labkit.nodeimage import rootfs

    assert not {"containerd", "runc", "containernetworking-plugins"} & set(rootfs.NODE_PACKAGES)


def test_a_rootfs_is_keyed_by_the_suites_date(tmp_path: Path, monkeypatch) -> None:
    from labkit.nodeimage import rootfs

    monkeypatch.setattr(rootfs, "suite_date", lambda: "Sat, 21 Nov 2026 09:15:44 UTC")
    first = rootfs.cached_target(tmp_path, "node", ("bash",), ".tar")
    monkeypatch.setattr(rootfs, "suite_date", lambda: "Sat, 28 Nov 2026 09:15:44 UTC")
    assert rootfs.cached_target(tmp_path, "node", ("bash",), ".tar") != first
    assert rootfs.cached_target(tmp_path, "node", ("bash", "curl"), ".tar").name.startswith("node-")


def test_an_unreachable_mirror_takes_the_newest_cached_rootfs(tmp_path: Path, monkeypatch):
    import os

    from labkit.nodeimage import rootfs

    monkeypatch.setattr(rootfs, "suite_date", lambda: None)
    with pytest.raises(LabkitError, match=r"does not answer.*no node build is cached"):
        rootfs.cached_target(tmp_path, "node", ("bash",), ".tar")
    prefix = f"node-{rootfs.packages_key(('bash',))}"
    older, newer = tmp_path / f"{prefix}-aaaa.tar", tmp_path / f"{prefix}-bbbb.tar"
    for index, path in enumerate((newer, older)):
        path.write_text("")
        os.utime(path, (1000 - index, 1000 - index))
    (tmp_path / f"node-{rootfs.packages_key(('curl',))}-cccc.tar").write_text("")
    assert rootfs.cached_target(tmp_path, "node", ("bash",), ".tar") == newer


def test_the_build_names_its_components_in_the_order_the_listing_shows() -> None:
    from labkit.nodeimage.built import COMPONENT_ORDER

    build = build_module.ImageBuild(
        version=DEFAULT_VERSION,
        client=None,
        progress=None,
        reference="labkit/node:test",  # type: ignore[arg-type]
    )
    build.kubeadm_images = KubeadmImages.parse(IMAGES_LIST_OUTPUT)
    assert tuple(build_module.component_versions(build)) == COMPONENT_ORDER


@pytest.mark.parametrize(
    ("go_mod", "toolchain"),
    [
        ("module k8s.io/kubernetes\n\ngo 1.27.0\n", "go1.27.0"),
        ("go 1.26.0\n\ntoolchain go1.27.3\n", "go1.27.3"),
        ("go 1.26.0\n", ""),
        ("go 1.26.8\n", ""),
        ("module x\n", ""),
    ],
)
def test_a_release_asking_for_a_newer_go_gets_that_toolchain(
    go_mod: str, toolchain: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gomod, "go_version", lambda toolchain="": "go1.26.8")
    assert gomod.toolchain_for(go_mod) == toolchain
    component = components.kubernetes(KubernetesVersion.parse("v1.38.0-beta.0"), go_mod)
    assert component.toolchain == toolchain
    if toolchain:
        assert gomod.go_environment(component)["GOTOOLCHAIN"] == toolchain


def test_a_pre_release_is_taken_when_named_and_ordered_before_its_release() -> None:
    beta = KubernetesVersion.parse("v1.38.0-beta.0")
    assert str(beta) == "v1.38.0-beta.0"
    assert beta.staging_version == "v0.38.0-beta.0"
    assert beta.node_image == "labkit/node:v1.38.0-beta.0"
    assert KubernetesVersion.parse("v1.37.2") < beta < KubernetesVersion(1, 38, 0)
    assert KubernetesVersion(1, 38, 0, "alpha.3") < KubernetesVersion(1, 38, 0, "beta.0")
    assert KubernetesVersion(1, 38, 0, "rc.0") < KubernetesVersion(1, 38, 0)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("v1.38.0", "v1.38 only as a pre-release"),
        ("v1.39.0-beta.0", "supported minors are v1.35, v1.36, v1.37"),
        ("v1.38.0-gamma.1", "not a Kubernetes release"),
    ],
)
def test_a_pre_release_is_the_next_minor_only(text: str, said: str) -> None:
    with pytest.raises(LabkitError, match=re.escape(said)):
        KubernetesVersion.parse(text)


def test_a_module_the_proxy_refuses_is_named_in_the_failure(tmp_path: Path) -> None:
    """v1.38.0-beta.0's kube-proxy imports sigs.k8s.io/iptables-wrappers v1.0.0, which the
    module proxy here does not serve: the step says so, not only that go exited 1."""
    refusal = (
        "go: labkit.local/build/kubernetes imports\n"
        "\tsigs.k8s.io/iptables-wrappers/pkg/iptables: sigs.k8s.io/iptables-wrappers@v1.0.0: "
        "reading https://proxy.golang.org/sigs.k8s.io/iptables-wrappers/@v/v1.0.0.zip: "
        "403 Forbidden\n\tserver response: This module version is not available.\n"
    )
    script = tmp_path / "go"
    script.write_text(f"#!/bin/sh\nprintf '%s' '{refusal}'\nexit 1\n")
    script.chmod(0o755)
    component = components.kubernetes(KubernetesVersion.parse("v1.38.0-beta.0"), "go 1.20\n")
    with pytest.raises(StepFailed) as failure:
        gomod.run_go([str(script), "mod", "tidy"], tmp_path, component, "go mod tidy", print)
    assert "does not serve sigs.k8s.io/iptables-wrappers@v1.0.0" in failure.value.reason
    assert "k8s.io/kubernetes v1.38.0-beta.0 needs" in failure.value.reason


def test_two_builds_of_one_component_at_once_build_it_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Parallel bring-ups that both miss an image: the second waits and finds the first's."""
    import threading
    import time

    monkeypatch.setenv("LABKIT_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(gomod, "go_version", lambda toolchain="": "go1.26.8")
    builds = []

    def build_into(component, source, output, log) -> None:
        builds.append(output)
        time.sleep(0.3)
        output.mkdir(parents=True)
        for binary in component.binaries():
            (output / binary).write_text("built")

    monkeypatch.setattr(gomod, "_build_into", build_into)
    component = components.pause()
    outputs: list[Path] = []
    threads = [
        threading.Thread(target=lambda: outputs.append(gomod.build(component, lambda _: None)))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(builds) == 1 and outputs == [builds[0], builds[0]]
