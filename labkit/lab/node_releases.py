"""Which release each node of a lab runs: labkit's image of it, built when missing, and
for a worker older than its control plane, the control plane's kubeadm and images."""

from __future__ import annotations

from labkit.lab.bringup_context import BringUp
from labkit.lab.images import image_exists
from labkit.lab.release import release_material
from labkit.parallel import parallel
from labkit.versions import LOAD_BALANCER_IMAGE


def build_missing_images(up: BringUp) -> None:
    """labkit's image of each release the lab runs, built when missing (cached by its
    inputs: about 12 minutes the first time), and with several control planes the load
    balancer's (a minute)."""
    from labkit.lab.load_balancer import build_load_balancer_image
    from labkit.nodeimage.build import build_node_image

    missing = [v for v in up.spec.releases() if not image_exists(up.client, v.node_image)]
    if up.spec.image:
        missing = []
    for version in missing:
        up.progress.say(f"   {version.node_image} is missing: building it")
        build_node_image(version, progress=up.progress)
    if up.spec.is_ha and not image_exists(up.client, LOAD_BALANCER_IMAGE):
        up.progress.say(f"   {LOAD_BALANCER_IMAGE} is missing: building it")
        build_load_balancer_image(up.client, up.progress)
    elif not missing:
        up.progress.say("   none missing")
    if up.spec.registry_name:
        up.registry_image = _registry_image(up)


def _registry_image(up: BringUp) -> str:
    """The release's content image (made by its image build); for a lab on a node image of
    the user's, the empty registry unless labkit's content of the release is there."""
    from labkit.nodeimage.build import build_node_image
    from labkit.nodeimage.registry_image import build_registry_image, content_reference

    content = content_reference(up.spec.kubernetes_version)
    if image_exists(up.client, content):
        return content
    if up.spec.image:
        up.progress.say(
            f"   {content} is missing and the lab runs its own node image: its registry "
            "starts empty (`labkit lab push` fills it)"
        )
        return build_registry_image(up.client, up.progress)
    up.progress.say(f"   {content} is missing: filling it from the release's images")
    build_node_image(up.spec.kubernetes_version, progress=up.progress)
    return content


def prepare_skewed_workers(up: BringUp) -> None:
    """A worker of an older release keeps its own kubelet but joins with the control
    plane's kubeadm (kubeadm supports only its own release's control plane, as kinder's
    skew-kubelet workflows do), and gets the control plane's component images (kube-proxy's
    DaemonSet names the control plane's release)."""
    specs = {n.name: n for n in up.spec.node_names()}
    skewed = [
        n for n in up.workers if up.spec.version_of(specs[n.name]) != up.spec.kubernetes_version
    ]
    if not skewed:
        up.progress.say("   none: every node runs " + str(up.spec.kubernetes_version))
        return
    material = release_material(up.client, up.spec.kubernetes_version, up.progress)
    parallel(skewed, lambda node: material.install(node, ("kubeadm",)))
    material.load_images(up.client, skewed, up.progress)
    for node in skewed:
        up.progress.say(
            f"   {node.name}: kubelet {up.spec.version_of(specs[node.name])}, "
            f"kubeadm and images {up.spec.kubernetes_version}"
        )
