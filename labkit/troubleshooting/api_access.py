"""The lab's API as a browser or curl reaches it from the host: anonymous, with a bearer
token, or with the admin's client certificate.

>>> api_request(ApiAccess.of(lab), "/api/v1/namespaces").status  # no credentials
403
"""

from __future__ import annotations

import base64
import json
import ssl
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from labkit.errors import LabkitError
from labkit.lab.model import LabModel


@dataclass(frozen=True)
class ApiAccess:
    """The lab's API server and CA, and the admin's client certificate and key, as the
    lab's kubeconfig (kubeadm's admin.conf, pointed at the host's loopback) embeds them."""

    server: str
    ca_pem: bytes
    client_cert_pem: bytes
    client_key_pem: bytes

    @classmethod
    def of(cls, lab: LabModel) -> ApiAccess:
        config = yaml.safe_load(lab.kubeconfig.read_text())
        cluster = config["clusters"][0]["cluster"]
        user = config["users"][0]["user"]
        server = cluster["server"]
        if urllib.parse.urlsplit(server).hostname != "127.0.0.1":
            raise LabkitError(
                f"lab {lab.name}: API server {server} is not on the host's "
                "loopback; labkit only talks to a lab's own API there"
            )
        return cls(
            server,
            base64.b64decode(cluster["certificate-authority-data"]),
            base64.b64decode(user["client-certificate-data"]),
            base64.b64decode(user["client-key-data"]),
        )


@dataclass(frozen=True)
class ApiResponse:
    status: int
    body: dict[str, Any]


def api_request(
    access: ApiAccess,
    path: str,
    *,
    token: str | None = None,
    client_certificate: bool = False,
    body: dict[str, Any] | None = None,
    timeout: float = 20,
) -> ApiResponse:
    """One HTTPS request to the lab's API as a browser or curl would send it: the server
    verified against the lab's CA, and no credentials unless a bearer `token` or the admin's
    `client_certificate` is asked for. A POST when there is a `body`."""
    context = ssl.create_default_context(cadata=access.ca_pem.decode())
    if client_certificate:
        # ssl reads a certificate and key only from files; they live for this call only.
        with tempfile.TemporaryDirectory(prefix="labkit-") as directory:
            cert, key = Path(directory, "client.crt"), Path(directory, "client.key")
            cert.write_bytes(access.client_cert_pem)
            key.touch(mode=0o600)
            key.write_bytes(access.client_key_pem)
            context.load_cert_chain(cert, key)
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(access.server + path, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, context=context, timeout=timeout) as response:
            return ApiResponse(response.status, json.load(response))
    except urllib.error.HTTPError as error:
        return ApiResponse(error.code, json.loads(error.read() or b"{}"))
