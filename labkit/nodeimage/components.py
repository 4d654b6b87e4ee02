"""Which upstream Go modules, at which versions, make up a node image.

The Kubernetes release is the user's choice; etcd, CoreDNS and pause follow from what
that release's kubeadm asks for (`kubeadm config images list`), so an image can never
carry a component its kubeadm would not use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from labkit.errors import LabkitError
from labkit.kubeadm.images import image_tag, parse_images_list
from labkit.nodeimage import gomod
from labkit.nodeimage.gomod import GoComponent
from labkit.versions import (
    CNI_PLUGINS_VERSION,
    CONTAINERD_VERSION,
    CRI_TOOLS_STAGING_VERSION,
    CRI_TOOLS_VERSION,
    DISTRIBUTION_VERSION,
    FLANNEL_CNI_PLUGIN_MODULE_VERSION,
    FLANNEL_VERSION,
    RUNC_VERSION,
    KubernetesVersion,
)

KUBERNETES_COMMANDS = (
    "kubeadm",
    "kubelet",
    "kubectl",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kube-proxy",
)
CRI_TOOLS_STAGING = (
    "k8s.io/api",
    "k8s.io/apimachinery",
    "k8s.io/cli-runtime",
    "k8s.io/client-go",
    "k8s.io/component-base",
    "k8s.io/cri-api",
    "k8s.io/cri-client",
    "k8s.io/kubectl",
    "k8s.io/kubelet",
)
CONTAINERD_COMMANDS = ("containerd", "containerd-shim-runc-v2", "ctr")
# The reference plugins flannel's CNI config chains (bridge with host-local, portmap), the
# loopback every pod sandbox gets, and what kind's nodes carry beside them.
CNI_PLUGINS = (
    "main/bridge",
    "main/loopback",
    "main/ptp",
    "ipam/host-local",
    "meta/portmap",
    "meta/tuning",
)
# kind's tags: the snapshotters that need C libraries or kernel features a node in a
# container lacks; overlayfs and native stay.
CONTAINERD_LEFT_OUT = ("no_aufs", "no_zfs", "no_btrfs", "no_devmapper")
# Static binaries need no C library at run time (the user database and DNS in Go).
STATIC_GO_TAGS = ("osusergo", "netgo")
TENCENT_COMMON = "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
# The release's own go.mod replaces these with ./staging/src/...; as a dependency they
# must be replaced with their published v0.X.Y tags instead.
_STAGING_REPLACE = re.compile(r"^\s*(k8s\.io/[\w.-]+)\s+=>\s+\./staging/src/", re.MULTILINE)


@dataclass(frozen=True)
class KubeadmImages:
    """The image references one kubeadm prints for its release, by component."""

    references: dict[str, str]

    @classmethod
    def parse(cls, text: str) -> KubeadmImages:
        references = parse_images_list(text)
        missing = {"kube-apiserver", "etcd", "coredns", "pause"} - references.keys()
        if missing:
            raise LabkitError(
                f"`kubeadm config images list` printed no {sorted(missing)}: {text!r}"
            )
        return cls(references)

    def tag(self, component: str) -> str:
        return image_tag(self.references[component])

    @property
    def etcd_release(self) -> str:
        # kubeadm tags etcd as 3.6.5-0: the release plus an image revision.
        return "v" + self.tag("etcd").split("-", 1)[0]


def staging_modules(kubernetes_go_mod: str) -> list[str]:
    return sorted(set(_STAGING_REPLACE.findall(kubernetes_go_mod)))


def kubernetes(version: KubernetesVersion, release_go_mod: str) -> GoComponent:
    """The release's commands, from its go.mod: its staging modules replaced by their
    tags, and the Go toolchain it asks for when the local one is older."""
    staging = staging_modules(release_go_mod)
    variables = {
        "gitVersion": str(version),
        "gitMajor": str(version.major),
        "gitMinor": str(version.minor),
        "gitTreeState": "clean",
        # A fixed date keeps the binaries identical for identical inputs.
        "buildDate": "1970-01-01T00:00:00Z",
    }
    ldflags = tuple(
        f"-X {package}.{name}={value}"
        for package in ("k8s.io/client-go/pkg/version", "k8s.io/component-base/version")
        for name, value in variables.items()
    )
    return GoComponent(
        name="kubernetes",
        module="k8s.io/kubernetes",
        version=str(version),
        packages=tuple(f"k8s.io/kubernetes/cmd/{c}" for c in KUBERNETES_COMMANDS),
        ldflags=ldflags,
        replaces=tuple((m, f"{m} {version.staging_version}") for m in staging),
        toolchain=gomod.toolchain_for(release_go_mod),
    )


def etcd(images: KubeadmImages) -> GoComponent:
    return GoComponent(
        name="etcd",
        module="go.etcd.io/etcd/server/v3",
        version=images.etcd_release,
        packages=("go.etcd.io/etcd/server/v3",),
    )


def coredns(images: KubeadmImages) -> GoComponent:
    return GoComponent(
        name="coredns",
        module="github.com/coredns/coredns",
        version=images.tag("coredns"),
        packages=("github.com/coredns/coredns",),
    )


def cri_tools() -> GoComponent:
    cri_version = CRI_TOOLS_VERSION
    return GoComponent(
        name="cri-tools",
        module="sigs.k8s.io/cri-tools",
        version=cri_version,
        packages=("sigs.k8s.io/cri-tools/cmd/crictl",),
        ldflags=(f"-X sigs.k8s.io/cri-tools/pkg/version.Version={cri_version}",),
        # cri-tools pins release candidates of the staging modules that the checksum
        # database does not know; the published release of its minor is API-equal.
        replaces=tuple((m, f"{m} {CRI_TOOLS_STAGING_VERSION}") for m in CRI_TOOLS_STAGING),
        # The proxy serves this release but sum.golang.org has no entry for it.
        no_sumdb=("sigs.k8s.io/cri-tools",),
    )


def containerd() -> GoComponent:
    module = "github.com/containerd/containerd/v2"
    return GoComponent(
        name="containerd",
        module=module,
        version=CONTAINERD_VERSION,
        packages=tuple(f"{module}/cmd/{command}" for command in CONTAINERD_COMMANDS),
        ldflags=(
            f"-X {module}/version.Version={CONTAINERD_VERSION}",
            f"-X {module}/version.Package={module}",
        ),
        tags=("urfave_cli_no_docs", *CONTAINERD_LEFT_OUT, *STATIC_GO_TAGS),
        go_directive="1.26.6",
    )


def runc() -> GoComponent:
    return GoComponent(
        name="runc",
        module="github.com/opencontainers/runc",
        version=RUNC_VERSION,
        packages=("github.com/opencontainers/runc",),
        # runc's own static build: libseccomp (Debian's libseccomp-dev) linked in by cgo,
        # so seccomp profiles work with no library in the node. libpathrs (Rust) is left
        # out; runc then uses its Go implementation of the same path checks.
        ldflags=("-extldflags=-static",),
        tags=("seccomp", "urfave_cli_no_docs", *STATIC_GO_TAGS),
        extra_env={"CGO_ENABLED": "1"},
        go_directive="1.25.0",
    )


def cni_plugins() -> GoComponent:
    module = "github.com/containernetworking/plugins"
    return GoComponent(
        name="cni-plugins",
        module=module,
        version=CNI_PLUGINS_VERSION,
        packages=tuple(f"{module}/plugins/{plugin}" for plugin in CNI_PLUGINS),
        ldflags=(f"-X {module}/pkg/utils/buildversion.BuildVersion={CNI_PLUGINS_VERSION}",),
        go_directive="1.26.8",
    )


def distribution() -> GoComponent:
    module = "github.com/distribution/distribution/v3"
    return GoComponent(
        name="distribution",
        module=module,
        version=DISTRIBUTION_VERSION,
        packages=(f"{module}/cmd/registry",),
        ldflags=(f"-X {module}/version.version={DISTRIBUTION_VERSION}",),
        tags=STATIC_GO_TAGS,
        go_directive="1.26.0",
    )


def flannel() -> GoComponent:
    return GoComponent(
        name="flannel",
        module="github.com/flannel-io/flannel",
        version=FLANNEL_VERSION,
        packages=("github.com/flannel-io/flannel",),
        # The udp backend's packet proxy is C (cgo); link libc statically so the binary
        # stays self-contained, as upstream's release build does.
        ldflags=(
            f"-X github.com/flannel-io/flannel/pkg/version.Version={FLANNEL_VERSION}",
            "-extldflags=-static",
        ),
        extra_env={"CGO_ENABLED": "1"},
        go_directive="1.25.0",
        # flanneld links every backend; the proxy no longer serves the Tencent SDK
        # release it pins, so take the next served one (same package API).
        replaces=((TENCENT_COMMON, f"{TENCENT_COMMON} v1.3.103"),),
    )


def flannel_cni_plugin() -> GoComponent:
    return GoComponent(
        name="flannel-cni-plugin",
        module="github.com/containernetworking/plugins",
        version=FLANNEL_CNI_PLUGIN_MODULE_VERSION,
        packages=("github.com/containernetworking/plugins/plugins/meta/flannel",),
    )


def pause() -> GoComponent:
    return GoComponent(
        name="pause",
        module="labkit.local/build/pause",
        version="local",
        packages=("labkit.local/build/pause",),
        local_source=True,
    )
