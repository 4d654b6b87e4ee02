"""`labkit image build`: a node image with a real Kubernetes, built entirely offline.

The pipeline: Go builds of every component (cached by their inputs), the list of images
the release's kubeadm expects, two Debian root filesystems, the component images, the
node image assembled in one container and committed, with every image preloaded, and the
labs' registry content of the release (the same images, pushed).
A build whose inputs all match the existing image's label does nothing.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import docker

from labkit import host
from labkit.errors import LabkitError, StepFailed
from labkit.naming import (
    LABEL_COMPONENT_PREFIX,
    LABEL_INPUTS,
    LABEL_KUBERNETES_VERSION,
    cache_dir,
    managed_labels,
)
from labkit.nodeimage import components, gomod, rootfs
from labkit.nodeimage.components import KubeadmImages
from labkit.nodeimage.images import (
    ImageRecipe,
    build_image,
    current_inputs,
    import_rootfs,
    save_image,
)
from labkit.nodeimage.registry_image import fill_content
from labkit.pipeline import Progress, Step, StepTiming, heartbeat, required, run_steps
from labkit.versions import (
    CNI_PLUGINS_VERSION,
    CONTAINERD_VERSION,
    CRI_TOOLS_VERSION,
    DEFAULT_KUBERNETES_VERSION,
    FLANNEL_CNI_PLUGIN_MODULE_VERSION,
    FLANNEL_IMAGE,
    FLANNEL_VERSION,
    RUNC_VERSION,
    TOOLBOX_IMAGE,
    KubernetesVersion,
)

# How the module proxy (or go, for a direct fetch) says a version does not exist.
_NOT_SERVED = re.compile(r"not available|unknown revision|invalid version|404 Not Found|410 Gone")

FILES = Path(__file__).parent / "files"
NODE_ENTRYPOINT = ["/usr/local/bin/labkit-entrypoint", "/sbin/init"]
# Part of the inputs key: raise it when the assembly changes in a way the files and
# versions do not show, so that an image assembled the old way is rebuilt.
ASSEMBLY_REVISION = 3


@dataclass
class ImageBuild:
    """What the build steps share: inputs, and outputs as they appear."""

    version: KubernetesVersion
    client: docker.DockerClient
    progress: Progress
    reference: str
    binaries: dict[str, Path] = field(default_factory=dict)
    kubeadm_images: KubeadmImages | None = None
    component_images: list[ImageRecipe] = field(default_factory=list)
    rootfs: dict[str, Path] = field(default_factory=dict)
    inputs_key: str = ""
    up_to_date: bool = False


def build_go_components(build: ImageBuild) -> None:
    log = build.progress.detail
    release = components.kubernetes(build.version, kubernetes_go_mod(build.version))
    if release.toolchain:
        build.progress.say(
            f"   Go toolchain {release.toolchain} for Kubernetes {build.version}, as its go.mod "
            "asks (GOTOOLCHAIN: fetched through the module proxy)"
        )
    with heartbeat(build.progress, f"building Kubernetes {build.version} from source"):
        output = gomod.build(release, log)
    for name in components.KUBERNETES_COMMANDS:
        build.binaries[name] = output / name
    images = KubeadmImages.parse(
        _run(
            [
                str(output / "kubeadm"),
                "config",
                "images",
                "list",
                "--kubernetes-version",
                str(build.version),
            ]
        )
    )
    build.kubeadm_images = images
    for component, binary, name in (
        (components.etcd(images), "server", "etcd"),
        (components.coredns(images), "coredns", "coredns"),
        (components.pause(), "pause", "pause"),
        (components.cri_tools(), "crictl", "crictl"),
        (components.flannel(), "flannel", "flanneld"),
        (components.flannel_cni_plugin(), "flannel", "flannel-cni"),
    ):
        with heartbeat(build.progress, f"building {component.name} {component.version}"):
            build.binaries[name] = gomod.build(component, log) / binary
    for component, stage_dir in (
        (components.containerd(), "runtime"),
        (components.runc(), "runtime"),
        (components.cni_plugins(), "cni"),
    ):
        with heartbeat(build.progress, f"building {component.name} {component.version}"):
            output = gomod.build(component, log)
        for binary in component.binaries():
            build.binaries[f"{stage_dir}/{binary}"] = output / binary
    build.binaries["labkit-runc"] = host.build_capwrap()
    build.progress.say(f"   {len(build.binaries)} static binaries ready")
    versions = ", ".join(f"{name} {version}" for name, version in component_versions(build).items())
    build.progress.say(f"   components: {versions}")


def component_versions(build: ImageBuild) -> dict[str, str]:
    """What the node image carries, by component: printed by the build and kept in its labels."""
    images = required(build.kubeadm_images)
    return {
        "kubernetes": str(build.version),
        "containerd": CONTAINERD_VERSION,
        "runc": RUNC_VERSION,
        "cni-plugins": CNI_PLUGINS_VERSION,
        "crictl": CRI_TOOLS_VERSION,
        "etcd": images.tag("etcd"),
        "coredns": images.tag("coredns"),
        "pause": images.tag("pause"),
        "flannel": FLANNEL_VERSION,
        "flannel-cni-plugin": FLANNEL_CNI_PLUGIN_MODULE_VERSION,
    }


def make_root_filesystems(build: ImageBuild) -> None:
    build.rootfs["node"] = rootfs.debian_rootfs("node", rootfs.NODE_PACKAGES, build.progress)
    build.rootfs["network-tools"] = rootfs.debian_rootfs(
        "network-tools", rootfs.NETWORK_TOOL_PACKAGES, build.progress
    )
    build.rootfs["toolbox"] = rootfs.debian_rootfs(
        "toolbox", rootfs.TOOLBOX_PACKAGES, build.progress
    )


def build_component_images(build: ImageBuild) -> None:
    images = required(build.kubeadm_images)
    bins = build.binaries
    network_tools = import_rootfs(
        build.client,
        build.rootfs["network-tools"],
        f"labkit/network-tools:{build.rootfs['network-tools'].stem}",
        build.progress,
    )
    recipes = [
        ImageRecipe(images.references[name], {f"/usr/local/bin/{name}": bins[name]})
        for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
    ]
    recipes += [
        ImageRecipe(images.references["etcd"], {"/usr/local/bin/etcd": bins["etcd"]}),
        ImageRecipe(
            images.references["coredns"], {"/coredns": bins["coredns"]}, entrypoint=("/coredns",)
        ),
        ImageRecipe(images.references["pause"], {"/pause": bins["pause"]}, entrypoint=("/pause",)),
        ImageRecipe(
            images.references["kube-proxy"],
            {"/usr/local/bin/kube-proxy": bins["kube-proxy"]},
            base=network_tools,
        ),
        ImageRecipe(
            FLANNEL_IMAGE,
            {"/opt/bin/flanneld": bins["flanneld"]},
            base=network_tools,
            entrypoint=("/opt/bin/flanneld",),
        ),
    ]
    for recipe in recipes:
        build_image(build.client, recipe, build.progress)
    toolbox = import_rootfs(
        build.client,
        build.rootfs["toolbox"],
        f"labkit/toolbox-rootfs:{build.rootfs['toolbox'].stem}",
        build.progress,
    )
    recipes.append(ImageRecipe(TOOLBOX_IMAGE, {}, base=toolbox))
    build_image(build.client, recipes[-1], build.progress)
    build.component_images = recipes


def decide_inputs(build: ImageBuild) -> None:
    digest = hashlib.sha256()
    parts = [
        f"assembly {ASSEMBLY_REVISION}",
        str(build.version),
        build.rootfs["node"].name,
        *(f"{r.reference}={r.inputs_key()}" for r in build.component_images),
    ]
    for name in sorted(build.binaries):
        parts.append(f"{name}={build.binaries[name].parent.name}")
    for path in sorted(FILES.iterdir()):
        parts.append(f"{path.name}={hashlib.sha256(path.read_bytes()).hexdigest()}")
    digest.update("\n".join(parts).encode())
    build.inputs_key = digest.hexdigest()[:16]
    build.up_to_date = current_inputs(build.client, build.reference) == build.inputs_key
    if build.up_to_date:
        build.progress.say(f"   {build.reference} is up to date (inputs {build.inputs_key})")


def assemble_node_image(build: ImageBuild) -> None:
    if build.up_to_date:
        return
    base = import_rootfs(
        build.client,
        build.rootfs["node"],
        f"labkit/node-rootfs:{build.rootfs['node'].stem}",
        build.progress,
    )
    replaced = _image_id(build.client, build.reference)
    with tempfile.TemporaryDirectory(prefix="labkit-stage-", dir=cache_dir()) as stage_dir:
        stage = Path(stage_dir)
        _stage_files(build, stage)
        _preload_and_commit(build, base, stage)
    _remove_if_untagged(build, replaced)


def _image_id(client: docker.DockerClient, reference: str) -> str | None:
    try:
        return client.images.get(reference).id
    except docker.errors.ImageNotFound:
        return None


def _remove_if_untagged(build: ImageBuild, image_id: str | None) -> None:
    """The node image this build replaced is 1.3 GB that nothing names any more; a
    container still made from it keeps it (Docker refuses), and so does another tag."""
    if image_id is None or image_id == _image_id(build.client, build.reference):
        return
    try:
        if not build.client.images.get(image_id).tags:
            build.client.images.remove(image_id)
            build.progress.say(f"   removed the image it replaces ({image_id[7:19]})")
    except docker.errors.APIError as error:  # in use by a container: it stays, said so
        build.progress.say(f"   the image it replaces ({image_id[7:19]}) stays: {error}")


def _stage_files(build: ImageBuild, stage: Path) -> None:
    images = required(build.kubeadm_images)
    (stage / "bin").mkdir()
    for name in ("kubeadm", "kubelet", "kubectl", "crictl"):
        shutil.copy2(build.binaries[name], stage / "bin" / name)
    for staged in ("runtime", "cni"):
        (stage / staged).mkdir()
    for name, binary in build.binaries.items():
        if name.startswith(("runtime/", "cni/")):
            shutil.copy2(binary, stage / name)
    shutil.copy2(build.binaries["flannel-cni"], stage / "cni" / "flannel")
    shutil.copy2(build.binaries["labkit-runc"], stage / "labkit-runc")
    for name in (
        "kubelet.service",
        "containerd.service",
        "10-kubeadm.conf",
        "crictl.yaml",
        "labkit-entrypoint",
        "preload.sh",
    ):
        shutil.copy2(FILES / name, stage / name)
    config = (FILES / "containerd-config.toml.tmpl").read_text()
    (stage / "containerd-config.toml").write_text(
        config.replace("${pause_image}", images.references["pause"])
    )
    manifest = (FILES / "default-cni.yaml").read_text()
    (stage / "default-cni.yaml").write_text(manifest.replace("{{ .FlannelImage }}", FLANNEL_IMAGE))
    (stage / "version").write_text(f"{build.version}\n")
    (stage / "images.txt").write_text("\n".join(r.reference for r in build.component_images) + "\n")
    (stage / "images").mkdir()
    for index, recipe in enumerate(build.component_images):
        save_image(build.client, recipe.reference, stage / "images" / f"{index:02d}.tar")


def _preload_and_commit(build: ImageBuild, base: str, stage: Path) -> None:
    build.progress.say("   preloading images into the node image's containerd")
    container = build.client.containers.run(
        base,
        command=["sleep", "infinity"],
        detach=True,
        privileged=True,
        runtime=host.node_runtime(build.client),
        labels=managed_labels(),
        # A mount, not `volumes=`: the SDK also declares those as the container's VOLUMEs,
        # which `commit` keeps, and every node would then get an anonymous volume.
        mounts=[docker.types.Mount("/labkit-stage", str(stage), type="bind", read_only=True)],
        tmpfs={"/run": "", "/tmp": ""},
    )
    try:
        code, output = container.exec_run(["bash", "/labkit-stage/preload.sh"])
        text = output.decode(errors="replace")
        build.progress.detail(text)
        if code != 0:
            raise StepFailed(
                operation="preload images",
                reason=f"preload.sh exited {code}",
                evidence={"preload.sh output": text[-4000:]},
            )
        container.stop(timeout=1)
        container.commit(repository="labkit/node-staged", tag=build.inputs_key)
    finally:
        container.remove(force=True)
    staged = f"labkit/node-staged:{build.inputs_key}"
    _set_node_metadata(build, staged)
    build.client.images.remove(staged, noprune=True)


def _set_node_metadata(build: ImageBuild, staged: str) -> None:
    """Entry point, stop signal and labels: `docker commit` cannot set STOPSIGNAL, which
    systemd needs (SIGRTMIN+3 halts it; SIGTERM only makes it re-execute)."""
    labels = managed_labels(
        **{LABEL_INPUTS: build.inputs_key, LABEL_KUBERNETES_VERSION: str(build.version)},
        **{LABEL_COMPONENT_PREFIX + name: v for name, v in component_versions(build).items()},
    )
    dockerfile = (
        "\n".join(
            [
                f"FROM {staged}",
                f"ENTRYPOINT {json.dumps(NODE_ENTRYPOINT[:1])}",
                f"CMD {json.dumps(NODE_ENTRYPOINT[1:])}",
                'ENV container="docker"',
                "STOPSIGNAL SIGRTMIN+3",
            ]
        )
        + "\n"
    )
    build.client.images.build(
        fileobj=io.BytesIO(dockerfile.encode()),
        tag=build.reference,
        labels=labels,
        rm=True,
        forcerm=True,
    )


def fill_registry_content(build: ImageBuild) -> None:
    """What a lab's registry of this release starts with: the images the node carries, so
    that a pod pulls them with `imagePullPolicy: Always` (labkit.lab.registry)."""
    references = [recipe.reference for recipe in build.component_images]
    fill_content(build.client, build.version, references, build.progress)


BUILD_STEPS: list[Step[ImageBuild]] = [
    Step("build static binaries (Go)", build_go_components),
    Step("make Debian root filesystems", make_root_filesystems),
    Step("build component images", build_component_images),
    Step("compare inputs with the existing image", decide_inputs),
    Step("assemble node image", assemble_node_image),
    Step("fill the registry's content", fill_registry_content),
]


def build_node_image(
    version: KubernetesVersion, *, progress: Progress | None = None, reference: str | None = None
) -> tuple[str, list[StepTiming]]:
    """Build (or find up to date) the node image for `version`; returns its reference."""
    log_path = cache_dir() / "logs" / f"image-build-{time.strftime('%Y%m%d-%H%M%S')}.log"
    progress = progress or Progress(log_path)
    client = host.docker_client()
    build = ImageBuild(
        version=version, client=client, progress=progress, reference=reference or version.node_image
    )
    # A caller's Progress (the bring-up's) may keep no log: then its own output is the log.
    logged = f" (log: {progress.log_path})" if progress.log_path else ""
    progress.say(f"building {build.reference}{logged}")
    timings = run_steps(BUILD_STEPS, build, progress)
    return build.reference, timings


def kubernetes_go_mod(version: KubernetesVersion) -> str:
    """The release's go.mod, the first thing a build asks of the Go module proxy: a release
    it does not serve (v1.37.99) is refused here, as the user's to fix."""
    command = ["go", "mod", "download", "-json", f"k8s.io/kubernetes@{version}"]
    result = subprocess.run(
        command, capture_output=True, text=True, cwd=Path(tempfile.gettempdir())
    )
    try:
        info = json.loads(result.stdout)
    except ValueError:
        info = {}
    # go reports a module it cannot get in the JSON, not on stderr, and exits 1.
    error = info.get("Error") or result.stderr.strip()
    go_mod = Path(info.get("GoMod") or "/nonexistent")
    # A release that needs a newer Go than this host's is still downloaded: its go.mod says
    # which toolchain to build it with.
    if (result.returncode == 0 and not error) or ("requires go >=" in error and go_mod.is_file()):
        return go_mod.read_text()
    if _NOT_SERVED.search(error):
        raise LabkitError(
            f"kubernetesVersion: {version} is not a release the Go module proxy serves "
            f"({error.splitlines()[-1].strip()}); choose a released patch, such as "
            f"{DEFAULT_KUBERNETES_VERSION}"
        )
    raise StepFailed(
        operation=" ".join(command[:3]),
        reason=f"exited {result.returncode}: {error.splitlines()[0] if error else 'no reason'}",
        evidence={"go's error": error[-3000:]},
    )


def _run(command: list[str], cwd: Path | None = None) -> str:
    result = subprocess.run(command, capture_output=True, text=True, cwd=cwd)
    if result.returncode != 0:
        raise StepFailed(
            operation=" ".join(command[:3]),
            reason=f"exited {result.returncode}",
            evidence={"stderr": result.stderr[-3000:]},
        )
    return result.stdout
