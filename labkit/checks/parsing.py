"""Reading kubeadm's formats: PEM certificates and keys, kubeconfigs, YAML, flag lists.

Each reader raises `ValueError` with the reason when its input is not what kubeadm writes,
so that the rule owning the file can report it and the others can skip it.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from dataclasses import dataclass
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPublicKeyTypes,
    PrivateKeyTypes,
    PublicKeyTypes,
)

_PEM_BLOCK = re.compile(
    rb"-----BEGIN (?P<type>[A-Z0-9 ]+)-----\r?\n.*?-----END (?P=type)-----", re.DOTALL
)
_PRIVATE_KEY_TYPES = (b"PRIVATE KEY", b"RSA PRIVATE KEY", b"EC PRIVATE KEY")


def pem_blocks(data: bytes, kinds: tuple[bytes, ...]) -> list[bytes]:
    return [m.group(0) for m in _PEM_BLOCK.finditer(data) if m["type"] in kinds]


def load_certificate(data: bytes) -> x509.Certificate:
    """The first certificate of a PEM file (kubeadm writes one; a bundle leads with it)."""
    blocks = pem_blocks(data, (b"CERTIFICATE",))
    if not blocks:
        raise ValueError("no PEM CERTIFICATE block")
    return x509.load_pem_x509_certificate(blocks[0])


def load_private_key(data: bytes) -> PrivateKeyTypes:
    """The private key of a PEM file, which may also hold certificates (kubelet's .pem)."""
    blocks = pem_blocks(data, _PRIVATE_KEY_TYPES)
    if not blocks:
        raise ValueError("no PEM private key block")
    return _private_key(blocks[0])


# Loading validates an RSA key's arithmetic (as Go's parser does), some 75 ms a key; several
# rules read the same keys, and a process checking a lab reads them again for every node.
@functools.lru_cache(maxsize=256)
def _private_key(block: bytes) -> PrivateKeyTypes:
    return serialization.load_pem_private_key(block, password=None)


def load_public_key(data: bytes) -> PublicKeyTypes:
    blocks = pem_blocks(data, (b"PUBLIC KEY", b"RSA PUBLIC KEY"))
    if not blocks:
        raise ValueError("no PEM PUBLIC KEY block")
    return serialization.load_pem_public_key(blocks[0])


def spki_der(key: PublicKeyTypes) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def same_public_key(a: PublicKeyTypes, b: PublicKeyTypes) -> bool:
    return spki_der(a) == spki_der(b)


def ca_cert_hash(certificate: x509.Certificate) -> str:
    """The `--discovery-token-ca-cert-hash` of a CA: SHA-256 of its SubjectPublicKeyInfo."""
    return "sha256:" + hashlib.sha256(spki_der(certificate.public_key())).hexdigest()


def key_algorithm(key: PublicKeyTypes | CertificateIssuerPublicKeyTypes) -> str:
    """A key's type in kubeadm's encryptionAlgorithm spelling (RSA-2048, ECDSA-P256, ...)."""
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA-{key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        curves = {"secp256r1": "P256", "secp384r1": "P384", "secp521r1": "P521"}
        return f"ECDSA-{curves.get(key.curve.name, key.curve.name)}"
    return type(key).__name__


# libyaml's loader when PyYAML has it: the pure-Python one takes seconds over a node's files.
_YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.lru_cache(maxsize=256)
def load_yaml_mapping(text: str) -> dict[str, Any]:
    """A YAML document that must be a mapping.

    Cached, since most rules of a kind read the same files: the result is shared, so read
    it and never change it.
    """
    try:
        document = yaml.load(text, Loader=_YamlLoader)
    except yaml.YAMLError as error:
        raise ValueError(f"not YAML: {error}") from None
    if not isinstance(document, dict):
        raise ValueError(f"not a YAML mapping but {type(document).__name__}")
    return document


def parse_flags(arguments: list[str]) -> dict[str, str]:
    """`--name=value` arguments as a mapping (kubeadm renders every flag that way)."""
    flags: dict[str, str] = {}
    for argument in arguments:
        if argument.startswith("--"):
            name, _, value = argument[2:].partition("=")
            flags[name] = value
    return flags


def b64decode(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


@dataclass(frozen=True)
class Kubeconfig:
    """The current context of a kubeconfig, resolved to its cluster and user."""

    cluster_name: str
    context_name: str
    user_name: str
    server: str
    ca_data: bytes | None
    ca_file: str | None
    client_certificate_data: bytes | None
    client_key_data: bytes | None
    client_certificate: str | None
    client_key: str | None


def parse_kubeconfig(text: str) -> Kubeconfig:
    document = load_yaml_mapping(text)
    current = document.get("current-context")
    if not current:
        raise ValueError("no current-context")
    context = _named(document, "contexts", "context", current)
    cluster_name = context.get("cluster", "")
    user_name = context.get("user", "")
    cluster = _named(document, "clusters", "cluster", cluster_name)
    user = _named(document, "users", "user", user_name)
    return Kubeconfig(
        cluster_name=cluster_name,
        context_name=current,
        user_name=user_name,
        server=cluster.get("server", ""),
        ca_data=_data(cluster, "certificate-authority-data"),
        ca_file=cluster.get("certificate-authority"),
        client_certificate_data=_data(user, "client-certificate-data"),
        client_key_data=_data(user, "client-key-data"),
        client_certificate=user.get("client-certificate"),
        client_key=user.get("client-key"),
    )


def _named(document: dict[str, Any], section: str, key: str, name: str) -> dict[str, Any]:
    for item in document.get(section) or []:
        if isinstance(item, dict) and item.get("name") == name:
            value = item.get(key)
            if isinstance(value, dict):
                return value
            raise ValueError(f"{section} entry {name!r} has no {key} mapping")
    raise ValueError(f"{section} has no entry named {name!r}")


def _data(section: dict[str, Any], key: str) -> bytes | None:
    value = section.get(key)
    if not value:
        return None
    try:
        return b64decode(value)
    except ValueError:
        raise ValueError(f"{key} is not base64") from None
