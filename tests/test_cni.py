"""The CNI manifest labkit applies: the node image's flannel, rendered for a lab."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from labkit.lab.cni import FLANNEL_CONTAINER, render_cni_manifest

IMAGE_MANIFEST = (
    (Path(__file__).resolve().parent.parent / "labkit" / "nodeimage" / "files" / "default-cni.yaml")
    .read_text()
    .replace("{{ .FlannelImage }}", "flannel:x")
)
OTHER_CNI = """
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: other}
spec:
  template:
    spec:
      containers:
      - name: agent
        image: other
        env: [{name: NETWORK, value: "{{ .PodSubnet }}"}]
"""


def documents(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def pod_of(text: str) -> dict[str, Any]:
    (daemon_set,) = [d for d in documents(text) if d["kind"] == "DaemonSet"]
    return daemon_set["spec"]["template"]["spec"]


def test_the_subnet_is_filled_in_and_flannel_reaches_the_api_server_directly() -> None:
    rendered = render_cni_manifest(IMAGE_MANIFEST, "10.250.0.0/16", "172.18.0.2")
    assert "{{" not in rendered
    config = next(d for d in documents(rendered) if d["kind"] == "ConfigMap")
    assert '"Network": "10.250.0.0/16"' in config["data"]["net-conf.json"]
    containers = {c["name"]: c for c in pod_of(rendered)["containers"]}
    env = {e["name"]: e.get("value") for e in containers[FLANNEL_CONTAINER]["env"]}
    assert (env["KUBERNETES_SERVICE_HOST"], env["KUBERNETES_SERVICE_PORT"]) == (
        "172.18.0.2",
        "6443",
    )
    assert "env" not in containers["install-cni"]


def test_rendering_twice_gives_the_same_manifest() -> None:
    # A re-apply (labkit.troubleshooting.install_cni) must not roll the DaemonSet.
    once = render_cni_manifest(IMAGE_MANIFEST, "10.244.0.0/16", "172.18.0.2")
    assert render_cni_manifest(IMAGE_MANIFEST, "10.244.0.0/16", "172.18.0.2") == once


def test_the_cni_config_is_written_only_once_flanneld_has_its_subnet() -> None:
    pod = pod_of(IMAGE_MANIFEST)
    assert "initContainers" not in pod, "an init container writes the config too early"
    install = next(c for c in pod["containers"] if c["name"] == "install-cni")
    script = install["args"][0]
    assert script.index("until [ -s /run/flannel/subnet.env ]") < script.index(
        "/etc/cni/net.d/10-flannel.conflist"
    )
    assert {"name": "run", "mountPath": "/run/flannel", "readOnly": True} in install["volumeMounts"]


def test_another_cni_gets_only_the_subnet() -> None:
    rendered = render_cni_manifest(OTHER_CNI, "10.244.0.0/16", "172.18.0.2")
    (agent,) = pod_of(rendered)["containers"]
    assert agent["env"] == [{"name": "NETWORK", "value": "10.244.0.0/16"}]
