"""`labkit lab status`: the lab as Docker and the API see it."""

from __future__ import annotations

import json
from typing import Any

import docker
from kubernetes import client as k8s

from labkit.lab.lab import Lab
from labkit.lab.waits import is_ready


def lab_status(client: docker.DockerClient, name: str) -> dict[str, Any]:
    lab = Lab.find(client, name)
    kube_state = _kubernetes_state(lab)
    nodes = []
    for node in lab.nodes:
        networks = node.container.attrs["NetworkSettings"]["Networks"]
        ip = next(iter(networks.values()), {}).get("IPAddress") if networks else None
        nodes.append(
            {
                "name": node.name,
                "role": node.role,
                "container": node.container.status,
                "ip": ip,
                "kubernetes": kube_state.get(node.name, "unknown"),
            }
        )
    record = lab.bringup_record()
    upgrade_record = lab.state_dir / "upgrade.json"
    return {
        "name": name,
        "kubeconfig": str(lab.kubeconfig),
        "nodes": nodes,
        "timings": record.get("timings", {}),
        "upgrade": json.loads(upgrade_record.read_text()) if upgrade_record.exists() else None,
    }


def _kubernetes_state(lab: Lab) -> dict[str, str]:
    try:
        core = k8s.CoreV1Api(lab.api_client())
        return {
            n.metadata.name: "Ready" if is_ready(n) else "NotReady"
            for n in core.list_node(_request_timeout=10).items
        }
    except Exception as error:
        return {node.name: f"API unreachable ({type(error).__name__})" for node in lab.nodes}
