"""Every version labkit pins, in one place.

The versions of etcd, CoreDNS and pause are not listed here on purpose: they are what
the kubeadm under test asks for (`kubeadm config images list`), so the image build reads
them from kubeadm and the checks read them from the same source.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from labkit.errors import LabkitError, shown

# Newest patch of the newest minor the Go module proxy serves.
DEFAULT_KUBERNETES_VERSION = "v1.37.2"

# Newest patch of the minor before the default's: what upgrade and skew scenarios start from.
PREVIOUS_MINOR_VERSION = "v1.36.3"

# Minors upstream supports (and the node image build and the lab bring-up work with).
SUPPORTED_MINORS = range(35, 38)
# The upstream version skew policy: a kubelet up to this many minors older than the API
# server, never newer (https://kubernetes.io/releases/version-skew-policy/).
MAX_KUBELET_SKEW = 3
# From 1.35 the kubelet refuses cgroup v1 unless KubeletConfiguration says otherwise.
FIRST_MINOR_REFUSING_CGROUP_V1 = 35

# crictl, a CRI v1 client, the same for every release: the module proxy serves only v1.34.0
# and v1.37.0, and a cri-tools release builds only against the staging modules of its own
# minor (v1.34.0 against v0.35.x does not compile).
CRI_TOOLS_VERSION = "v1.37.0"
CRI_TOOLS_STAGING_VERSION = "v0.37.2"

# Flannel: flanneld, plus its CNI plugin from containernetworking/plugins v0.9.1, the last
# release that still carried plugins/meta/flannel (flannel-io/cni-plugin is not served).
FLANNEL_VERSION = "v0.28.4"
FLANNEL_CNI_PLUGIN_MODULE_VERSION = "v0.9.1"

# The node's container runtime, built from the Go module proxy (the newest each serves):
# containerd 2 answers the CRI RuntimeConfig call, so the kubelet takes its cgroup driver
# from the runtime instead of falling back to its own setting.
CONTAINERD_VERSION = "v2.4.2"
RUNC_VERSION = "v1.5.3"
CNI_PLUGINS_VERSION = "v1.10.0"
# containerd's support matrix, by Kubernetes minor: the lowest patch of each containerd
# release tested with it (RELEASES.md of the containerd above).
CONTAINERD_SUPPORT: dict[int, tuple[tuple[int, int, int], ...]] = {
    32: ((2, 1, 0), (2, 0, 1), (1, 7, 24), (1, 6, 36)),
    33: ((2, 1, 0), (2, 0, 4), (1, 7, 24), (1, 6, 36)),
    34: ((2, 1, 3), (2, 0, 6), (1, 7, 28), (1, 6, 39)),
    35: ((2, 2, 0), (2, 1, 5), (1, 7, 28)),
    36: ((2, 3, 0), (2, 2, 0)),
    37: ((2, 4, 0), (2, 3, 0)),
}
CONTAINERD_SUPPORT_SOURCE = (
    f"https://github.com/containerd/containerd/blob/{CONTAINERD_VERSION}/RELEASES.md"
    "#kubernetes-support"
)

# The Go toolchain floor of the modules above (flannel v0.28 asks for go 1.25).
GO_MINIMUM = (1, 25)

# The Debian suite of every root filesystem labkit makes (nodes, component and test images,
# the load balancer): stable, as kind's node base since v0.32.
DEBIAN_SUITE = "trixie"

KUBERNETES_REGISTRY = "registry.k8s.io"
FLANNEL_IMAGE = f"ghcr.io/flannel-io/flannel:{FLANNEL_VERSION}"
NODE_IMAGE_REPOSITORY = "labkit/node"
# A small Debian image with network tools, preloaded in every node: scenarios and users run
# their probe pods from it, since no registry can serve one.
TOOLBOX_IMAGE = f"docker.io/labkit/toolbox:{DEBIAN_SUITE}"
# In front of several control planes: Debian's haproxy (kind's envoy cannot be built here).
LOAD_BALANCER_IMAGE = f"labkit/load-balancer:{DEBIAN_SUITE}"
# Each lab's registry: distribution, the newest v3 the module proxy serves (kind's docs run
# `registry:3`). Its content image holds a release's images, so a lab's registry starts
# with them in place.
DISTRIBUTION_VERSION = "v3.1.2"
REGISTRY_IMAGE = f"labkit/registry:{DISTRIBUTION_VERSION}"
REGISTRY_CONTENT_REPOSITORY = "labkit/registry-content"

# The minor after the newest supported one is taken as a pre-release only (v1.38.0-beta.0,
# the only 1.38 the module proxy serves), and only when named: never a default.
PRE_RELEASE_MINOR = max(SUPPORTED_MINORS) + 1

_RELEASE = re.compile(
    r"^v(?P<major>1)\.(?P<minor>\d+)\.(?P<patch>\d+)(?:-(?P<pre>(?:alpha|beta|rc)\.\d+))?$"
)


@dataclass(frozen=True)
class KubernetesVersion:
    """A Kubernetes release such as v1.34.4, or a pre-release such as v1.38.0-beta.0."""

    major: int
    minor: int
    patch: int
    # alpha.N, beta.N or rc.N; empty for a release.
    pre_release: str = ""

    @classmethod
    def parse(cls, text: str, *, field: str = "kubernetes version") -> KubernetesVersion:
        match = _RELEASE.match(text.strip())
        if not match:
            raise LabkitError(
                f"{field}: {shown(text)} is not a Kubernetes release; expected vMAJOR.MINOR.PATCH "
                f"such as {DEFAULT_KUBERNETES_VERSION} (or a pre-release of "
                f"v1.{PRE_RELEASE_MINOR}, such as v1.{PRE_RELEASE_MINOR}.0-beta.0)"
            )
        version = cls(
            int(match["major"]), int(match["minor"]), int(match["patch"]), match["pre"] or ""
        )
        if version.minor in SUPPORTED_MINORS:
            return version
        supported = ", ".join(f"v1.{m}" for m in SUPPORTED_MINORS)
        if version.minor == PRE_RELEASE_MINOR and not version.pre_release:
            raise LabkitError(
                f"{field}: {text} is not supported; v1.{PRE_RELEASE_MINOR} only as a "
                f"pre-release (v1.{PRE_RELEASE_MINOR}.0-beta.0); supported minors are {supported}"
            )
        if version.minor != PRE_RELEASE_MINOR:
            raise LabkitError(f"{field}: {text} is not supported; supported minors are {supported}")
        return version

    def __str__(self) -> str:
        suffix = f"-{self.pre_release}" if self.pre_release else ""
        return f"v{self.major}.{self.minor}.{self.patch}{suffix}"

    def _order(self) -> tuple[int, int, int, int, tuple[object, ...]]:
        # A pre-release comes before its release; alpha < beta < rc, then by number.
        if not self.pre_release:
            return (self.major, self.minor, self.patch, 1, ())
        stage, number = self.pre_release.split(".")
        return (self.major, self.minor, self.patch, 0, (stage, int(number)))

    def __lt__(self, other: KubernetesVersion) -> bool:
        return self._order() < other._order()

    def __le__(self, other: KubernetesVersion) -> bool:
        return self._order() <= other._order()

    def __gt__(self, other: KubernetesVersion) -> bool:
        return self._order() > other._order()

    def __ge__(self, other: KubernetesVersion) -> bool:
        return self._order() >= other._order()

    @property
    def staging_version(self) -> str:
        """The tag of k8s.io/api, k8s.io/client-go, ... released with this Kubernetes."""
        suffix = f"-{self.pre_release}" if self.pre_release else ""
        return f"v0.{self.minor}.{self.patch}{suffix}"

    @property
    def refuses_cgroup_v1(self) -> bool:
        return self.minor >= FIRST_MINOR_REFUSING_CGROUP_V1

    @property
    def node_image(self) -> str:
        return f"{NODE_IMAGE_REPOSITORY}:{self}"


DEFAULT_VERSION = KubernetesVersion.parse(DEFAULT_KUBERNETES_VERSION)
