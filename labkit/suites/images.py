"""The test images the Conformance specs run, built here and tagged as e2e.test names them.

No registry is reachable, so each image is made from what its upstream image is
(test/images/* in the release's module): agnhost and the programs beside it from the
release's own Go module, the rest from Debian packages on one shared root filesystem.
Each keeps what a spec depends on: agnhost's entrypoint `/agnhost` with `pause` as its
command, its `agnhost-2` link, `/uploads`, porter's certificate and the user and group the
image defines; busybox is busybox's applets as commands and its ash as `sh` (the command),
built from Debian's source to behave as upstream's (labkit.suites.busybox); nginx serves
/usr/share/nginx/html on port 80 in the foreground; kitten and nautilus are agnhost's
`test-webserver` over their pictures; glibc-dns-testing is Debian with dnsutils;
sample-apiserver is k8s.io/sample-apiserver at the release's staging tag; nonroot runs as
UID 1234; nonewprivs' `nnp` is set-user-ID. Tags come from `e2e.test --list-images`, so a
release that moves a tag gets it; what the list names that labkit does not build is said,
not hidden.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import docker

from labkit.errors import StepFailed
from labkit.lab.images import image_exists
from labkit.nodeimage import rootfs
from labkit.nodeimage.images import ImageRecipe, build_image, import_rootfs
from labkit.pipeline import Progress
from labkit.suites import busybox
from labkit.suites.binaries import AGNHOST, GoProgram, SuiteBinaries

# PromoterE2eRegistry in test/utils/image/manifest.go: where the e2e images live.
E2E_REGISTRY = "registry.k8s.io/e2e-test-images"
NONEWPRIVS = GoProgram("nnp", "k8s.io/kubernetes/test/images/nonewprivs")
# Upstream builds github.com/kubernetes/sample-apiserver's main package; the release's own
# e2e.test depends on the module at the release's staging tag, so that one is built.
SAMPLE_APISERVER = GoProgram("sample-apiserver", "k8s.io/sample-apiserver")
# The toolbox (what agnhost's commands and probe pods reach for), plus nginx and iperf.
TEST_IMAGE_PACKAGES = ("nginx-light", "iperf", *rootfs.TOOLBOX_PACKAGES)
# agnhost's Dockerfile: `adduser -u 1000 user-defined-in-image`, `addgroup -g 50000 ...`.
AGNHOST_USER = ("user-defined-in-image", 1000)
AGNHOST_GROUP = ("group-defined-in-image", 50000)
NONROOT_UID = 1234
NGINX_CONFIG = """server {
    listen 80;
    listen [::]:80;
    root /usr/share/nginx/html;
    index index.html;
}
"""
NGINX_INDEX = "<!DOCTYPE html>\n<html><body><h1>Welcome to nginx!</h1></body></html>\n"
_REFERENCE = re.compile(r"^(?P<repository>[^\s:]+/(?P<name>[^\s/:]+)):(?P<tag>[\w.-]+)$")


@dataclass(frozen=True)
class E2EImage(ImageRecipe):
    """An ImageRecipe with what test images also set: build-time commands, user, command."""

    run: tuple[str, ...] = ()
    command: tuple[str, ...] = ()
    user: str = ""
    workdir: str = ""
    tags: tuple[str, ...] = field(default=(), compare=False)

    def dockerfile(self) -> str:
        lines = super().dockerfile().splitlines()
        lines += [f"RUN {json.dumps(list(step))}" for step in self._exec_steps()]
        if self.workdir:
            lines.append(f"WORKDIR {self.workdir}")
        if self.user:
            lines.append(f"USER {self.user}")
        if self.command:
            lines.append(f"CMD {json.dumps(list(self.command))}")
        return "\n".join(lines) + "\n"

    def _exec_steps(self) -> list[tuple[str, ...]]:
        return [("/bin/sh", "-c", step) for step in self.run]


@dataclass(frozen=True)
class BusyboxImage(E2EImage):
    """busybox alone: the static binary installs its own applets (there is no sh yet)."""

    def _exec_steps(self) -> list[tuple[str, ...]]:
        return [("/bin/busybox", "--install", "-s", "/bin"), *super()._exec_steps()]


@dataclass(frozen=True)
class ListedImage:
    """One line of `e2e.test --list-images`."""

    reference: str
    repository: str
    name: str
    tag: str


def parse_image_list(text: str) -> list[ListedImage]:
    """`e2e.test --list-images` prints one reference per line; anything else is refused."""
    images = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        match = _REFERENCE.match(line.strip())
        if not match:
            raise StepFailed(
                operation="read e2e.test --list-images",
                reason=f"line {number}: {line.strip()!r} is not an image reference",
            )
        images.append(ListedImage(line.strip(), match["repository"], match["name"], match["tag"]))
    if not images:
        raise StepFailed(operation="read e2e.test --list-images", reason="it listed no image")
    return images


def list_images(e2e_test: Path) -> list[ListedImage]:
    result = subprocess.run([str(e2e_test), "--list-images"], capture_output=True, text=True)
    if result.returncode != 0:
        raise StepFailed(
            operation="e2e.test --list-images",
            reason=f"exited {result.returncode}",
            evidence={"stderr": result.stderr[-2000:]},
        )
    return parse_image_list(result.stdout)


def tags_for(listed: list[ListedImage], name: str) -> tuple[str, ...]:
    """Every reference of the e2e images' registry that the list gives this name (agnhost
    has a current and a previous version, nginx two releases): one build answers to each.
    Not the same name elsewhere: specs expect `gcr.io/k8s-authenticated-test/agnhost` and
    `invalid.registry.k8s.io/...` to fail to pull, and so they must."""
    repository = f"{E2E_REGISTRY}/{name}"
    return tuple(image.reference for image in listed if image.repository == repository)


@dataclass
class E2EImageBuild:
    """Builds the test images of one release into the host's Docker."""

    client: docker.DockerClient
    binaries: SuiteBinaries
    progress: Progress
    module_images: Path  # test/images of the release's module
    work: Path
    rootfs_tarball: Path | None = None

    def build_all(self, listed: list[ListedImage]) -> list[str]:
        """Build every image labkit knows how to make, tag it as listed; returns the
        references ready in the host's Docker (built, or there already, as pause is)."""
        base = self._base()
        recipes = [recipe for recipe in self._recipes(base, listed) if recipe.tags]
        for recipe in recipes:
            build_image(self.client, recipe, self.progress)
            image = self.client.images.get(recipe.reference)
            for reference in recipe.tags[1:]:
                repository, tag = reference.rsplit(":", 1)
                image.tag(repository, tag)
        ready = [reference for recipe in recipes for reference in recipe.tags]
        for image in listed:
            if image.reference not in ready and image_exists(self.client, image.reference):
                ready.append(image.reference)
        return ready

    def _base(self) -> str:
        tarball = self._rootfs()
        return import_rootfs(
            self.client, tarball, f"labkit/test-images-rootfs:{tarball.stem}", self.progress
        )

    def _rootfs(self) -> Path:
        if self.rootfs_tarball is None:
            self.rootfs_tarball = rootfs.debian_rootfs(
                "test-images", TEST_IMAGE_PACKAGES, self.progress
            )
        return self.rootfs_tarball

    def _recipes(self, base: str, listed: list[ListedImage]) -> list[E2EImage]:
        agnhost_tags = tags_for(listed, "agnhost")
        agnhost = E2EImage(
            reference=agnhost_tags[0] if agnhost_tags else "",
            tags=agnhost_tags,
            base=base,
            files={
                "/agnhost": self.binaries.path(AGNHOST),
                "/localhost.crt": self.module_images / "agnhost/porter/localhost.crt",
                "/localhost.key": self.module_images / "agnhost/porter/localhost.key",
            },
            run=(
                "ln -s agnhost /agnhost-2 && mkdir /uploads"
                f" && groupadd -g {AGNHOST_GROUP[1]} {AGNHOST_GROUP[0]}"
                f" && useradd -M -u {AGNHOST_USER[1]} -G {AGNHOST_GROUP[0]} {AGNHOST_USER[0]}"
                " && ln -s /usr/bin/iperf /usr/local/bin/iperf",
            ),
            entrypoint=("/agnhost",),
            command=("pause",),
            workdir="/",
        )
        recipes: list[E2EImage] = [agnhost]
        recipes += [self._webserver(agnhost, name, listed) for name in ("kitten", "nautilus")]
        busybox_tags = tags_for(listed, "busybox")
        if busybox_tags:
            recipes.append(self._busybox(busybox_tags))
        recipes += [
            self._nginx(base, tags_for(listed, "nginx")),
            _tagged(
                E2EImage, tags_for(listed, "nonroot"), base=base, files={}, user=str(NONROOT_UID)
            ),
            _tagged(
                E2EImage,
                tags_for(listed, "sample-apiserver"),
                base=base,
                files={"/sample-apiserver": self.binaries.path(SAMPLE_APISERVER)},
                entrypoint=("/sample-apiserver",),
            ),
            # A glibc resolver beside agnhost's: Debian with dnsutils is what it is.
            _tagged(E2EImage, tags_for(listed, "glibc-dns-testing"), base=base, files={}),
            _tagged(
                E2EImage,
                tags_for(listed, "nonewprivs"),
                base=base,
                files={"/usr/local/bin/nnp": self.binaries.path(NONEWPRIVS)},
                run=("chmod u+s /usr/local/bin/nnp",),
                command=("nnp",),
            ),
        ]
        return recipes

    def _webserver(self, agnhost: E2EImage, name: str, listed: list[ListedImage]) -> E2EImage:
        html = self.module_images / name / "html"
        return _tagged(
            E2EImage,
            tags_for(listed, name) if agnhost.tags else (),
            base=agnhost.reference,
            files={f"/{path.name}": path for path in sorted(html.iterdir())},
            command=("test-webserver",),
        )

    def _busybox(self, tags: tuple[str, ...]) -> E2EImage:
        files = self.work / "busybox"
        files.mkdir(parents=True, exist_ok=True)
        (files / "passwd").write_text(
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n"
        )
        (files / "group").write_text("root:x:0:\nnogroup:x:65534:\n")
        return _tagged(
            BusyboxImage,
            tags,
            files={
                "/bin/busybox": busybox.busybox(self.progress),
                "/etc/passwd": files / "passwd",
                "/etc/group": files / "group",
            },
            run=("mkdir -p /tmp /root /home && chmod 1777 /tmp",),
            command=("sh",),
        )

    def _nginx(self, base: str, tags: tuple[str, ...]) -> E2EImage:
        files = self.work / "nginx"
        files.mkdir(parents=True, exist_ok=True)
        (files / "default").write_text(NGINX_CONFIG)
        (files / "index.html").write_text(NGINX_INDEX)
        return _tagged(
            E2EImage,
            tags,
            base=base,
            files={
                "/etc/nginx/sites-enabled/default": files / "default",
                "/usr/share/nginx/html/index.html": files / "index.html",
            },
            run=(
                "ln -sf /dev/stdout /var/log/nginx/access.log"
                " && ln -sf /dev/stderr /var/log/nginx/error.log",
            ),
            command=("nginx", "-g", "daemon off;"),
        )


def _tagged(kind: type[E2EImage], tags: tuple[str, ...], **fields: object) -> E2EImage:
    return kind(reference=tags[0] if tags else "", tags=tags, **fields)  # type: ignore[arg-type]
