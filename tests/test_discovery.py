"""Join material: the CA pin, `kubeadm join` command lines, and bootstrap tokens."""

from __future__ import annotations

import datetime
import hashlib
import shutil
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from labkit.errors import LabkitError
from labkit.kubeadm import BootstrapToken, JoinCommand, ca_cert_hash, parse_join_command
from labkit.kubeadm.token import TOKEN_PATTERN

HASH = "sha256:" + "ab12" * 16
OTHER_HASH = "sha256:" + "cd34" * 16


@pytest.fixture(scope="module")
def ca_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ca_pem(ca_key: rsa.RSAPrivateKey) -> bytes:
    """A CA shaped like kubeadm's: self-signed, CN=kubernetes, RSA 2048."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl CLI")
def test_ca_cert_hash_matches_openssl(ca_pem: bytes) -> None:
    # The pipeline kubeadm's documentation gives for computing the hash by hand.
    pipeline = (
        "openssl x509 -pubkey -noout | openssl pkey -pubin -outform der | sha256sum | cut -d' ' -f1"
    )
    result = subprocess.run(
        ["sh", "-c", pipeline], input=ca_pem, capture_output=True, check=True, timeout=30
    )
    assert ca_cert_hash(ca_pem) == "sha256:" + result.stdout.decode().strip()


def test_ca_cert_hash_pins_the_key_not_the_certificate(
    ca_key: rsa.RSAPrivateKey, ca_pem: bytes
) -> None:
    # Computed from the private key, never touching the certificate.
    spki = ca_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert ca_cert_hash(ca_pem) == "sha256:" + hashlib.sha256(spki).hexdigest()
    assert ca_cert_hash(ca_pem) != "sha256:" + hashlib.sha256(ca_pem).hexdigest()


def test_ca_cert_hash_refuses_what_is_not_a_certificate() -> None:
    with pytest.raises(ValueError, match="not a PEM certificate"):
        ca_cert_hash(b"-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")


# --- join commands ---------------------------------------------------------------------


def test_print_join_command_output() -> None:
    text = (
        f"kubeadm join 172.18.0.2:6443 --token abcdef.0123456789abcdef "
        f"--discovery-token-ca-cert-hash {HASH} \n"
    )
    assert parse_join_command(text) == JoinCommand(
        "172.18.0.2:6443", BootstrapToken.parse("abcdef.0123456789abcdef"), (HASH,)
    )


INIT_TAIL = f"""\
Your Kubernetes control-plane has initialized successfully!

You can now join any number of control-plane nodes by copying certificate authorities
and service account keys on each node and then running the following as root:

  kubeadm join demo-control-plane:6443 --token abcdef.0123456789abcdef \\
\t--discovery-token-ca-cert-hash {HASH} \\
\t--control-plane

Then you can join any number of worker nodes by running the following on each as root:

kubeadm join demo-control-plane:6443 --token abcdef.0123456789abcdef \\
\t--discovery-token-ca-cert-hash {HASH}
"""


def test_tail_of_kubeadm_init_gives_the_worker_command() -> None:
    command = parse_join_command(INIT_TAIL)
    assert command.endpoint == "demo-control-plane:6443"
    assert str(command.token) == "abcdef.0123456789abcdef"
    assert command.ca_cert_hashes == (HASH,)
    assert not command.control_plane


def test_control_plane_command_alone() -> None:
    control_plane_only = INIT_TAIL.split("Then you can")[0]
    assert parse_join_command(control_plane_only).control_plane


def test_equals_form_several_hashes_and_upper_case() -> None:
    text = (
        f"kubeadm join 10.0.0.1:6443 --token=abcdef.0123456789abcdef "
        f"--discovery-token-ca-cert-hash={HASH.upper().replace('SHA256', 'sha256')} "
        f"--discovery-token-ca-cert-hash {OTHER_HASH}"
    )
    assert parse_join_command(text).ca_cert_hashes == (HASH, OTHER_HASH)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[init] Using Kubernetes version: v1.34.4\n", "no 'kubeadm join' command"),
        (
            "kubeadm join 10.0.0.1:6443 --token abcdef.0123456789abcdef "
            "--discovery-token-unsafe-skip-ca-verification",
            "lacks the API endpoint, --token or",
        ),
        (
            f"kubeadm join 10.0.0.1:6443 --token abc --discovery-token-ca-cert-hash {HASH}",
            "not a kubeadm bootstrap token",
        ),
        (
            "kubeadm join 10.0.0.1:6443 --token abcdef.0123456789abcdef "
            "--discovery-token-ca-cert-hash md5:1234",
            "not a sha256:<hex> CA pin",
        ),
    ],
)
def test_broken_join_commands(text: str, expected: str) -> None:
    with pytest.raises(ValueError, match=expected):
        parse_join_command(text)


# --- bootstrap tokens ------------------------------------------------------------------


def test_generated_tokens_have_kubeadms_format_and_differ() -> None:
    tokens = {str(BootstrapToken.generate()) for _ in range(50)}
    assert len(tokens) == 50
    assert all(TOKEN_PATTERN.match(token) for token in tokens)


def test_parse_round_trips_and_repr_hides_the_secret() -> None:
    token = BootstrapToken.parse(" abcdef.0123456789abcdef\n")
    assert (token.id, token.secret, str(token)) == (
        "abcdef",
        "0123456789abcdef",
        "abcdef.0123456789abcdef",
    )
    assert "0123456789abcdef" not in repr(token)


@pytest.mark.parametrize(
    "text",
    [
        "ABCDEF.0123456789abcdef",
        "abcdef.0123456789abcde",
        "abcdef0123456789abcdef",
        "abcde.0123456789abcdefg",
        "abcdef.0123456789abcdef.x",
        "",
    ],
)
def test_malformed_tokens(text: str) -> None:
    with pytest.raises(LabkitError) as caught:
        BootstrapToken.parse(text)
    message = str(caught.value)
    assert "not a kubeadm bootstrap token" in message and "abcdef.0123456789abcdef" in message
    assert "0123456789abcde" not in message.split("such as")[0]


def test_token_fields_are_checked_when_built_directly() -> None:
    with pytest.raises(LabkitError, match="bootstrap token with id 'abc'"):
        BootstrapToken("abc", "0123456789abcdef")
