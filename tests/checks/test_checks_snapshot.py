"""`fetch_cluster_snapshot` reads what the cluster rules need, as plain API-shaped dicts."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from labkit.checks import fetch_cluster_snapshot
from labkit.constants import API_REQUEST_TIMEOUT as BOUND

Call = tuple[str, tuple[Any, ...], dict[str, Any]]


def fake_api(calls: list[Call]) -> type:
    """A class standing in for CoreV1Api, AppsV1Api and RbacAuthorizationV1Api."""

    class FakeApi:
        def __init__(self, api_client: Any) -> None:
            self.api_client = api_client

        def __getattr__(self, name: str) -> Any:
            def call(*args: Any, **kwargs: Any) -> Any:
                calls.append((name, args, kwargs))
                return LISTS.get(name, lambda *a: client.V1ConfigMapList(items=[]))(*args)

            return call

    return FakeApi


def _secret_list(namespace: str) -> client.V1SecretList:
    secret = client.V1Secret(
        metadata=client.V1ObjectMeta(name="bootstrap-token-abcdef", namespace=namespace),
        type="bootstrap.kubernetes.io/token",
        data={"token-id": "YWJjZGVm"},
    )
    return client.V1SecretList(items=[secret])


LISTS = {
    "list_node": lambda: client.V1NodeList(
        items=[client.V1Node(metadata=client.V1ObjectMeta(name="lab-worker"))]
    ),
    "list_namespaced_config_map": lambda namespace: client.V1ConfigMapList(
        items=[
            client.V1ConfigMap(
                metadata=client.V1ObjectMeta(name="cm", namespace=namespace),
                data={"key": namespace},
            )
        ]
    ),
    "list_namespaced_secret": _secret_list,
}


@pytest.fixture
def fake_apis(monkeypatch: pytest.MonkeyPatch) -> list[Call]:
    calls: list[Call] = []
    for name in ("CoreV1Api", "AppsV1Api", "RbacAuthorizationV1Api"):
        # Through the module's dict: the client imports its API modules (some seconds) on
        # first attribute access, and the fakes make that unnecessary.
        monkeypatch.setitem(vars(client), name, fake_api(calls))
    return calls


def test_fetch_reads_plain_dicts_and_only_token_and_kubeadm_certs_secrets(
    fake_apis: list[Any],
) -> None:
    snapshot = fetch_cluster_snapshot(client.ApiClient())
    assert snapshot.nodes == ({"metadata": {"name": "lab-worker"}},)
    assert snapshot.find("config_maps", "kube-public", "cm") == {
        "metadata": {"name": "cm", "namespace": "kube-public"}, "data": {"key": "kube-public"},
    }  # fmt: skip
    assert snapshot.secrets[0]["data"] == {"token-id": "YWJjZGVm"}
    secret_calls = [call for call in fake_apis if call[0] == "list_namespaced_secret"]
    assert secret_calls == [
        ("list_namespaced_secret", ("kube-system",),
         {"field_selector": "type=bootstrap.kubernetes.io/token", "_request_timeout": BOUND}),
        ("list_namespaced_secret", ("kube-system",),
         {"field_selector": "metadata.name=kubeadm-certs", "_request_timeout": BOUND}),
    ]  # fmt: skip
    assert all(kwargs.get("_request_timeout") == BOUND for _, _, kwargs in fake_apis)
    listed = {name for name, _, _ in fake_apis}
    assert {"list_namespaced_pod", "list_namespaced_service", "list_namespaced_deployment",
            "list_namespaced_daemon_set", "list_cluster_role_binding",
            "list_namespaced_role_binding"} <= listed  # fmt: skip


def test_an_api_server_that_accepts_and_never_answers_is_reported_within_the_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A listener that takes the connection and stays silent, as an API server stuck in
    its start can: the read gives up after the bound instead of hanging `check`."""
    import socket
    import time

    import urllib3

    import labkit.checks.snapshot

    monkeypatch.setattr(labkit.checks.snapshot, "API_REQUEST_TIMEOUT", (1, 1))
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        configuration = client.Configuration()
        configuration.host = f"https://127.0.0.1:{silent.getsockname()[1]}"
        configuration.verify_ssl = False
        configuration.retries = False
        api = client.ApiClient(configuration)
        # The API classes import slowly on a busy host: not what is timed here.
        client.CoreV1Api(api), client.AppsV1Api(api), client.RbacAuthorizationV1Api(api)
        started = time.monotonic()
        with pytest.raises(urllib3.exceptions.HTTPError):
            fetch_cluster_snapshot(api)
        assert time.monotonic() - started < 10
