"""The load balancer in front of several control planes' API servers, as kind and kinder
put one there: a container of the lab (labelled, removed with it) running Debian's haproxy,
TCP on the API port, each backend health-checked on its API server's /readyz, which
anonymous users may read (kubeadm's system:public-info-viewer).

It holds the lab's fixed API port on 127.0.0.1, so the host kubeconfig goes through it.
Its backends are the control planes' fixed addresses, known before any node starts, so its
configuration never changes after creation; Docker keeps it in the container's
environment, and a restart of the container or of the engine finds it there.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import docker
import docker.errors

from labkit.constants import API_SERVER_PORT, ROLE_LOAD_BALANCER
from labkit.lab.node import Node, run_publishing_api_port
from labkit.naming import LABEL_LAB, LABEL_ROLE, managed_labels
from labkit.nodeimage import rootfs
from labkit.nodeimage.images import ImageRecipe, build_image, import_rootfs
from labkit.pipeline import Progress
from labkit.versions import LOAD_BALANCER_IMAGE

LOAD_BALANCER_PACKAGES = ("haproxy",)
CONFIG_VARIABLE = "LABKIT_HAPROXY_CONFIG"
CONFIG_PATH = "/etc/haproxy/haproxy.cfg"
# haproxy runs in the foreground (-db) as master and worker (-W), from the configuration the
# container's environment holds, written anew at every start.
ENTRYPOINT = (
    "/bin/sh",
    "-c",
    f'printf "%s\\n" "${CONFIG_VARIABLE}" > {CONFIG_PATH} && exec haproxy -W -db -f {CONFIG_PATH}',
)
# A stopped API server leaves the pool within two failed checks a second apart; one passing
# check brings it back.
CHECK_INTERVAL = "1s"
# Docker starts it again with the engine unless it was stopped on purpose (`lab stop`,
# `docker stop`), so a reboot brings the lab's endpoint back with its nodes.
RESTART_POLICY = {"Name": "unless-stopped"}


def haproxy_config(backends: Mapping[str, str]) -> str:
    """TCP on the API port, spread over `backends` (control-plane name -> address), each
    checked on /readyz over TLS (haproxy cannot verify it against the lab's CA: verify none)."""
    servers = [
        f"  server {name} {address}:{API_SERVER_PORT} check check-ssl verify none"
        for name, address in backends.items()
    ]
    return "\n".join(
        [
            "global",
            "  log stdout format raw local0 info",
            "  maxconn 4096",
            "defaults",
            "  mode tcp",
            "  log global",
            "  option tcplog",
            # A killed control plane's address stops answering rather than refusing, and
            # haproxy sends it new connections until its checks fail: a short connect timeout
            # and a redispatched retry put such a connection on another control plane
            # before the client's TLS handshake times out (kubectl's is 10 s).
            "  timeout connect 2s",
            "  retries 2",
            "  option redispatch 1",
            # Watches stay open for long: as long as the API server keeps them.
            "  timeout client 1h",
            "  timeout server 1h",
            f"  default-server inter {CHECK_INTERVAL} fall 2 rise 1",
            "frontend control-plane",
            f"  bind *:{API_SERVER_PORT}",
            "  default_backend kube-apiservers",
            "backend kube-apiservers",
            "  option httpchk GET /readyz",
            "  http-check expect status 200",
            *servers,
        ]
    )


def build_load_balancer_image(client: docker.DockerClient, progress: Progress) -> str:
    """labkit's haproxy image, from a Debian root filesystem (cached like the node's)."""
    tarball = rootfs.debian_rootfs("load-balancer", LOAD_BALANCER_PACKAGES, progress)
    base = import_rootfs(client, tarball, f"labkit/load-balancer-rootfs:{tarball.stem}", progress)
    recipe = ImageRecipe(LOAD_BALANCER_IMAGE, {}, base=base, entrypoint=ENTRYPOINT)
    return build_image(client, recipe, progress)


def create_load_balancer(
    client: docker.DockerClient,
    *,
    lab: str,
    name: str,
    network: str,
    address: str,
    backends: Mapping[str, str],
    avoid_ports: Collection[int] = (),
) -> Node:
    """Run the lab's load balancer at its fixed `address`, publishing the API port."""
    labels = managed_labels(**{LABEL_LAB: lab, LABEL_ROLE: ROLE_LOAD_BALANCER})
    settings = {
        "name": name,
        "hostname": name,
        "detach": True,
        "labels": labels,
        "network": network,
        "environment": {CONFIG_VARIABLE: haproxy_config(backends)},
        "restart_policy": dict(RESTART_POLICY),
        "networking_config": {network: client.api.create_endpoint_config(ipv4_address=address)},
    }
    container = run_publishing_api_port(
        client, LOAD_BALANCER_IMAGE, settings, avoid_ports=avoid_ports
    )
    return Node(name=name, role=ROLE_LOAD_BALANCER, container=container)
