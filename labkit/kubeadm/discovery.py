"""What a joining node needs to trust the control plane: the CA pin and the join command."""

from __future__ import annotations

import hashlib
import re
import shlex
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from labkit.errors import LabkitError
from labkit.kubeadm.token import BootstrapToken

CA_CERT_HASH_PATTERN = re.compile(r"^sha256:[0-9a-f]{64}$")


def ca_cert_hash(ca_pem: bytes) -> str:
    """kubeadm's `--discovery-token-ca-cert-hash`: SHA-256 of the CA's SubjectPublicKeyInfo.

    The public key is pinned, not the certificate, so a re-signed CA with the same key
    (kubeadm certs renew) keeps the pin valid.
    """
    try:
        certificate = x509.load_pem_x509_certificate(ca_pem)
    except ValueError as error:
        raise ValueError(f"not a PEM certificate: {error}") from None
    spki = certificate.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(spki).hexdigest()


@dataclass(frozen=True)
class JoinCommand:
    """The parts of a `kubeadm join` command line that a JoinConfiguration needs."""

    endpoint: str
    token: BootstrapToken
    ca_cert_hashes: tuple[str, ...]
    control_plane: bool = False


def parse_join_command(text: str) -> JoinCommand:
    """The worker join command in `kubeadm token create --print-join-command` output or in
    the tail of `kubeadm init`, which prints a control-plane one first when it can.

    Raises ValueError when there is none: that is kubeadm's output, not the user's input.
    """
    commands = [_parse_one(words) for words in _join_commands(text)]
    if not commands:
        raise ValueError(f"no 'kubeadm join' command in kubeadm's output:\n{text[-2000:]}")
    workers = [command for command in commands if not command.control_plane]
    return (workers or commands)[-1]


def _join_commands(text: str) -> list[list[str]]:
    # kubeadm breaks the command over lines ending in a backslash, indented by a tab.
    joined = re.sub(r"\\\r?\n", " ", text)
    return [
        shlex.split(line[line.index("kubeadm join") :])
        for line in joined.splitlines()
        if "kubeadm join" in line
    ]


def _parse_one(words: list[str]) -> JoinCommand:
    endpoint, token, hashes, control_plane = None, None, [], False
    rest = iter(words[2:])
    for word in rest:
        flag, _, value = word.partition("=")
        if flag in ("--token", "--discovery-token-ca-cert-hash") and not value:
            value = next(rest, "")
        if flag == "--token":
            try:
                token = BootstrapToken.parse(value)
            except LabkitError as error:
                raise ValueError(f"join command: {error}") from None
        elif flag == "--discovery-token-ca-cert-hash":
            if not CA_CERT_HASH_PATTERN.match(value.lower()):
                raise ValueError(f"join command: {value!r} is not a sha256:<hex> CA pin")
            hashes.append(value.lower())
        elif flag == "--control-plane":
            control_plane = True
        elif not word.startswith("-") and endpoint is None:
            endpoint = word
    if endpoint is None or token is None or not hashes:
        raise ValueError(
            f"join command {' '.join(words[:3])} ... lacks the API endpoint, --token or "
            "--discovery-token-ca-cert-hash"
        )
    return JoinCommand(endpoint, token, tuple(hashes), control_plane)
