"""Does the lab's API answer, and if not, why, in one line: the errors the kubernetes client
raises when it does not, the probes that wait for it, and the reason a person reads.

    problem = wait_for_api(lab.api_client(), 60)   # None once /readyz says ready
"""

from __future__ import annotations

import copy
import json
import re
import time

import urllib3.exceptions
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from labkit.constants import API_REQUEST_TIMEOUT

# What the kubernetes client raises when the API server does not answer (urllib3's
# connection, TLS and timeout errors) or answers with an error status.
API_FAILURES = (urllib3.exceptions.HTTPError, ApiException)
# How often a probe asks the API server again; a restarting one takes 10-40 s.
API_PROBE_INTERVAL = 1.0
# urllib3 names the connection object before its message; the user needs only the message.
_CONNECTION_PREFIX = re.compile(r"^<?\S*Connection(?: object at 0x[0-9a-f]+>|\([^)]*\)): ")


def failure_reason(error: BaseException) -> str:
    """The error under the client's wrappers, in one line: `ConnectionRefusedError: [Errno
    111] Connection refused` rather than urllib3's MaxRetryError around a NewConnectionError."""
    if isinstance(error, ApiException):
        return _http_reason(error)
    inner = error
    for _ in range(8):
        nested = _nested(inner)
        if nested is None:
            break
        inner = nested
    text = _CONNECTION_PREFIX.sub("", " ".join(str(inner).split()))
    return f"{type(inner).__name__}: {text}"[:300] if text else type(inner).__name__


def _nested(error: BaseException) -> BaseException | None:
    # MaxRetryError keeps the cause in `reason`, requests and urllib3's ProtocolError and
    # SSLError in their args, NewConnectionError in __cause__ (raise ... from).
    reason = getattr(error, "reason", None)
    if isinstance(reason, BaseException):
        return reason
    for arg in error.args:
        if isinstance(arg, BaseException):
            return arg
    return error.__cause__


def _http_reason(error: ApiException) -> str:
    if not error.status:  # the client's own wrapping of a TLS error: no HTTP answer
        return " ".join(str(error.reason).split())[:300]
    body = str(error.body or "").strip()
    try:
        message = str(json.loads(body).get("message", ""))
    except (ValueError, AttributeError):
        # /readyz lists its checks, `[-]` for each that fails.
        failing = [line for line in body.splitlines() if line.startswith("[-]")]
        message = " ".join(failing) or body.partition("\n")[0]
    head = f"HTTP {error.status} {error.reason}"
    return f"{head}: {' '.join(message.split())}"[:300] if message else head


def api_readiness(api: k8s.ApiClient) -> str | None:
    """None when the API server says it is ready (/readyz), else why not, in one line."""
    request = api.param_serialize("GET", "/readyz", auth_settings=["BearerToken"])
    try:
        response = api.call_api(*request, _request_timeout=API_REQUEST_TIMEOUT)
        response.read()
    except API_FAILURES as error:
        return failure_reason(error)
    if 200 <= response.status <= 299:
        return None
    body = response.data.decode(errors="replace") if response.data else None
    return failure_reason(ApiException(http_resp=response, body=body))


def wait_for_api(api: k8s.ApiClient, seconds: float) -> str | None:
    """Probe /readyz until it answers ready or `seconds` pass; None, or why it still does
    not answer. A probe rather than a watch: there is no API to watch while it is down."""
    deadline = time.monotonic() + seconds
    while (problem := api_readiness(api)) is not None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return problem
        time.sleep(min(API_PROBE_INTERVAL, remaining))
    return None


def api_answers(api: k8s.ApiClient, timeout: float) -> bool:
    """The API server lists nodes (so etcd answers it too) within `timeout`. A probe, not a
    watch: there is nothing to watch while it is down. Asked without the client's retries,
    whose warnings would fill the terminal."""
    configuration = copy.copy(api.configuration)
    configuration.retries = 0
    deadline = time.monotonic() + timeout
    with k8s.ApiClient(configuration) as probe:
        while True:
            try:
                k8s.CoreV1Api(probe).list_node(limit=1, _request_timeout=API_REQUEST_TIMEOUT)
                return True
            except API_FAILURES:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(API_PROBE_INTERVAL)
