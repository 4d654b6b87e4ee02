"""Joining a worker again with join material of the user's choosing, and undoing a join.

>>> unjoin(lab, worker)
>>> kubeadm_join(lab, worker, endpoint=endpoint, token="abcdef.0123456789abcdef",
...              ca_cert_hash=ca_cert_hash).ok
False
"""

from __future__ import annotations

import contextlib

import yaml
from kubernetes import client as k8s

from labkit.constants import (
    JOIN_CONFIG,
    KUBEADM_CONFIG,
    KUBEADM_FAILING_JOIN_TIMEOUT,
    KUBEADM_RESET_TIMEOUT,
)
from labkit.errors import LabkitError
from labkit.kubeadm import BootstrapToken, join_config
from labkit.lab.model import LabModel
from labkit.lab.node import ExecResult, Node


def unjoin(lab: LabModel, node: Node) -> None:
    """Undo `kubeadm join` on a worker: `kubeadm reset`, then delete its Node object, as an
    operator removing a node does."""
    node.exec(["kubeadm", "reset", "--force"], timeout=KUBEADM_RESET_TIMEOUT)
    with (
        contextlib.closing(lab.api_client()) as api,
        contextlib.suppress(k8s.ApiException),
    ):  # 404: it never registered
        k8s.CoreV1Api(api).delete_node(node.name)


def kubeadm_join(
    lab: LabModel,
    node: Node,
    *,
    endpoint: str,
    token: BootstrapToken | str,
    ca_cert_hash: str,
    discovery_timeout: str = "10s",
) -> ExecResult:
    """Render labkit's JoinConfiguration for `node` with this join material and run
    `kubeadm join` with it; the result, failed or not.

    kubeadm retries discovery until its timeout (5 minutes by default) when a token is
    unknown, so a short one keeps a failing join short."""
    spec = lab.state.spec()
    node_spec = next(n for n in spec.node_names() if n.name == node.name)
    rendered = join_config(spec, node_spec, node.lab_address(), endpoint, token, ca_cert_hash)
    documents = list(yaml.safe_load_all(rendered))
    for document in documents:
        if document["kind"] == "JoinConfiguration":
            document.setdefault("timeouts", {})["discovery"] = discovery_timeout
    node.write_file(JOIN_CONFIG, yaml.safe_dump_all(documents, sort_keys=False).encode(), 0o600)
    return node.exec(
        ["kubeadm", "join", "--config", JOIN_CONFIG],
        timeout=KUBEADM_FAILING_JOIN_TIMEOUT,
        check=False,
    )


def join_token_in_use(node: Node, path: str = KUBEADM_CONFIG) -> BootstrapToken:
    """The bootstrap token in the JoinConfiguration `lab up` wrote on a worker."""
    for document in yaml.safe_load_all(node.read_file(path)):
        if document and document.get("kind") == "JoinConfiguration":
            return BootstrapToken.parse(document["discovery"]["bootstrapToken"]["token"])
    raise LabkitError(f"{node.name}:{path} has no JoinConfiguration")
