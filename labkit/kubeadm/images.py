"""What `kubeadm config images list` prints: the images a kubeadm deploys, one a line.

    >>> parse_images_list("registry.k8s.io/coredns/coredns:v1.12.1\\n")
    {'coredns': 'registry.k8s.io/coredns/coredns:v1.12.1'}

The checks read it for the images a lab must run, the node image build for the etcd,
CoreDNS and pause releases it must carry.
"""

from __future__ import annotations

import re

from labkit.errors import LabkitError

_IMAGE = re.compile(r"^(?P<repository>[^\s:@]+(?:/[^\s:@]+)*):(?P<tag>[\w][\w.-]*)$")


def parse_images_list(text: str) -> dict[str, str]:
    """Map component -> image from `kubeadm config images list` output.

    The component is the image's last path segment, so
    `registry.k8s.io/coredns/coredns:v1.12.1` is `coredns`.
    """
    images: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        # kubeadm logs (klog lines, warnings) contain spaces; image references never do.
        if not line or " " in line:
            continue
        match = _IMAGE.match(line)
        if not match:
            raise LabkitError(
                f"`kubeadm config images list` printed {line!r}, which is not an image "
                "reference; pass its standard output only"
            )
        images[match["repository"].rsplit("/", 1)[-1]] = line
    if not images:
        raise LabkitError(
            "`kubeadm config images list` printed no images; run it with the lab's kubeadm "
            "config (`--config`) and pass its standard output"
        )
    return images


def image_tag(image: str) -> str:
    return image.rsplit(":", 1)[-1]
