"""Each PKI rule fails alone when its invariant is broken on an otherwise good node."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from breakage import NodeCase, assert_only_rule_fails, run_node_case
from kubeadm_like_pki import (
    DECADE,
    LEAVES,
    SANS,
    YEAR,
    Issuer,
    NodeFiles,
    Pki,
    issue,
    key_pem,
    new_key,
)

PKI = "/etc/kubernetes/pki"


def reissue(name: str, **changes: Any) -> Callable[[NodeFiles], None]:
    """Replace a leaf by one issued as kubeadm does, except for `changes` (issue()'s
    arguments, plus `key` and `issuer`)."""

    def mutate(files: NodeFiles) -> None:
        pki = files.pki
        ca, cn, orgs, usages, san_kind = LEAVES[name]
        dns, ips = SANS.get(san_kind or "", ((), ()))
        args: dict[str, Any] = {"orgs": orgs, "usages": usages, "dns": dns, "ips": ips,
                                "issuer": pki.issuer(ca), **pki.window(YEAR)}  # fmt: skip
        args |= changes
        key = args.pop("key", pki.keys[name])
        files.put_cert(name, issue(key, args.pop("cn", cn), **args))
        files.put_key(name, key)

    return mutate


def forged_ca(pki: Pki) -> Issuer:
    """The cluster CA's name and certificate with someone else's key."""
    return Issuer(pki.certs["ca"], pki.keys["front-proxy-ca"])


def _swap_key(name: str, other: str) -> Callable[[NodeFiles], None]:
    return lambda files: files.put_key(name, files.pki.keys[other])


def _expired(files: NodeFiles) -> None:
    pki = files.pki
    start = pki.start - timedelta(days=400)
    window = {"not_before": start - timedelta(minutes=5), "not_after": start + YEAR}
    reissue("apiserver", **window)(files)


def _wrong_issuer(files: NodeFiles) -> None:
    reissue("apiserver", issuer=files.pki.issuer("front-proxy-ca"))(files)


def _forged_signature(files: NodeFiles) -> None:
    reissue("etcd/healthcheck-client", issuer=forged_ca(files.pki))(files)


def _ecdsa_apiserver(files: NodeFiles) -> None:
    reissue("apiserver", key=new_key("ECDSA-P256"))(files)


def _ecdsa_service_account(files: NodeFiles) -> None:
    from cryptography.hazmat.primitives import serialization

    key = new_key("ECDSA-P256")
    files.put(f"{PKI}/sa.key", key_pem(key), 0o600)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    files.put(f"{PKI}/sa.pub", public, 0o600)


def _foreign_sa_pub(files: NodeFiles) -> None:
    from cryptography.hazmat.primitives import serialization

    public = (
        files.pki.keys["apiserver"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    files.put(f"{PKI}/sa.pub", public, 0o600)


APISERVER_DNS = SANS["apiserver"][0]

CASES = [
    NodeCase("pki.present", "missing key", lambda f: f.remove(f"{PKI}/front-proxy-client.key"),
             f"{PKI}/front-proxy-client.key", "no such file"),
    NodeCase("pki.present", "garbage certificate", lambda f: f.put(f"{PKI}/etcd/peer.crt",
             "not a certificate", 0o644), f"{PKI}/etcd/peer.crt", "unparseable"),
    NodeCase("pki.issuer", "signed by the wrong CA", _wrong_issuer,
             f"{PKI}/apiserver.crt", f"signed by {PKI}/ca.crt"),
    NodeCase("pki.issuer", "forged signature", _forged_signature,
             f"{PKI}/etcd/healthcheck-client.crt", f"signed by {PKI}/etcd/ca.crt"),
    NodeCase("pki.key-pair", "key of another certificate",
             _swap_key("apiserver", "apiserver-kubelet-client"),
             f"{PKI}/apiserver.key", "a different key pair"),
    NodeCase("pki.subject", "no kubeadm:cluster-admins O",
             reissue("apiserver-kubelet-client", orgs=()),
             f"{PKI}/apiserver-kubelet-client.crt", "O=['kubeadm:cluster-admins']"),
    # kubeadm 1.35's certificate on a 1.36 control plane: 1.36 dropped the group.
    NodeCase("pki.subject", "kubeadm:cluster-admins O from 1.36 on", lambda f: None,
             f"{PKI}/apiserver-kubelet-client.crt", "CN=kube-apiserver-kubelet-client O=-",
             context={"kubernetes_minor": 36}),
    NodeCase("pki.subject", "wrong CN", reissue("etcd/server", cn="etcd"),
             f"{PKI}/etcd/server.crt", "CN=lab-control-plane"),
    NodeCase("pki.sans", "missing DNS SAN",
             reissue("apiserver", dns=APISERVER_DNS[:-1]),
             f"{PKI}/apiserver.crt", "missing DNS:kubernetes.default.svc.cluster.local;"),
    NodeCase("pki.sans", "missing advertise address",
             reissue("etcd/peer", ips=("127.0.0.1", "::1")),
             f"{PKI}/etcd/peer.crt", "missing IP:172.18.0.2;"),
    NodeCase("pki.sans", "certSANs not applied", lambda f: None,
             f"{PKI}/apiserver.crt", "missing DNS:lab.example.com;",
             context={"apiserver_cert_sans": ("lab.example.com",)}),
    NodeCase("pki.key-usage", "leaf can sign certificates",
             reissue("front-proxy-client", cert_sign=True),
             f"{PKI}/front-proxy-client.crt", "digital_signature,key_encipherment"),
    NodeCase("pki.ext-key-usage", "client usage on the serving cert",
             reissue("apiserver", usages=(LEAVES["apiserver-kubelet-client"][3])),
             f"{PKI}/apiserver.crt", "extended key usage serverAuth"),
    NodeCase("pki.ca-constraint", "leaf marked CA", reissue("apiserver-etcd-client", basic_ca=True),
             f"{PKI}/apiserver-etcd-client.crt", "CA:FALSE"),
    NodeCase("pki.validity-now", "expired certificate", _expired,
             f"{PKI}/apiserver.crt", "valid at"),
    NodeCase("pki.validity-period", "leaf valid ten years",
             lambda f: reissue("front-proxy-client", not_after=f.pki.start + DECADE)(f),
             f"{PKI}/front-proxy-client.crt", "valid for about 8760.0h"),
    NodeCase("pki.key-algorithm", "ECDSA key in an RSA-2048 cluster", _ecdsa_apiserver,
             f"{PKI}/apiserver.crt", "a RSA-2048 key"),
    NodeCase("pki.key-algorithm", "ECDSA service-account key", _ecdsa_service_account,
             f"{PKI}/sa.key", "ECDSA-P256"),
    NodeCase("pki.service-account-key", "sa.pub of another key", _foreign_sa_pub,
             f"{PKI}/sa.pub", f"the public half of {PKI}/sa.key"),
    NodeCase("pki.service-account-key", "no sa.key", lambda f: f.remove(f"{PKI}/sa.key"),
             f"{PKI}/sa.key", "no such file"),
    NodeCase("pki.worker-ca-only", "CA key on a worker",
             lambda f: f.put(f"{PKI}/ca.key", key_pem(f.pki.keys["ca"]), 0o600),
             f"{PKI}/ca.key", "only /etc/kubernetes/pki/ca.crt on a worker", role="worker"),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_broken_pki_fails_only_its_rule(case: NodeCase, pki: Pki) -> None:
    assert_only_rule_fails(run_node_case(case, pki), case)
