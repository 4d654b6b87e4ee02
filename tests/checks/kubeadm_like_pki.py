"""The PKI of a kubeadm v1.34 cluster, built with `cryptography`, and the file primitives.

The PKI follows kubeadm's certlist.go and pkiutil (CNs, Os, SANs, usages, 5-minute backdate,
1y/10y validity, keys per encryptionAlgorithm); kubeconfigs follow kubeconfig.go and the
kubelet's bootstrap; modes follow kubeadm's writers. Keys are slow to make, so a `Pki` is
built once per session and nodes are assembled from it as fresh `NodeFiles`.
"""

from __future__ import annotations

import base64
import io
import ipaddress
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from kubeadm_output import IMAGES_LIST_OUTPUT

from labkit.checks import NodeArtifacts, parse_images_list
from labkit.checks.artifacts import FileEntry

CONTROL_PLANE = "lab-control-plane"
CONTROL_PLANE_ADDRESS = "172.18.0.2"
WORKER = "lab-worker"
WORKER_ADDRESS = "172.18.0.3"
API_URL = f"https://{CONTROL_PLANE_ADDRESS}:6443"
CRI_SOCKET = "unix:///var/run/containerd/containerd.sock"
KUBELET_PEM = "/var/lib/kubelet/pki/kubelet-client-current.pem"

IMAGES = parse_images_list(IMAGES_LIST_OUTPUT)

SERVER, CLIENT = ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH
YEAR, DECADE = timedelta(hours=8760), timedelta(hours=87600)
BACKDATE = timedelta(minutes=5)

Key = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def new_key(algorithm: str) -> Key:
    if algorithm.startswith("RSA-"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(algorithm[4:]))
    curve = {"ECDSA-P256": ec.SECP256R1(), "ECDSA-P384": ec.SECP384R1()}[algorithm]
    return ec.generate_private_key(curve)


def key_pem(key: Key) -> bytes:
    # keyutil.MarshalPrivateKeyToPEM: PKCS#1 for RSA, SEC 1 for EC.
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class Issuer:
    cert: x509.Certificate
    key: Key


def issue(
    key: Key,
    cn: str,
    *,
    issuer: Issuer | None = None,
    orgs: Iterable[str] = (),
    usages: Iterable[x509.ObjectIdentifier] = (),
    dns: Iterable[str] = (),
    ips: Iterable[str] = (),
    not_before: datetime,
    not_after: datetime,
    is_ca: bool = False,
    cert_sign: bool | None = None,
    basic_ca: bool | None = None,
) -> x509.Certificate:
    """A certificate shaped like pkiutil.NewSignedCert / NewSelfSignedCACert."""
    subject = x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
        + [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=is_ca if cert_sign is None else cert_sign,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.BasicConstraints(ca=is_ca if basic_ca is None else basic_ca, path_length=None),
            critical=True,
        )
    )
    if usages:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(usages)), critical=False)
    if is_ca:
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        builder = builder.add_extension(ski, critical=False)
    if issuer is not None:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key())
        builder = builder.add_extension(aki, critical=False)
    names = [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(issuer.key if issuer else key, hashes.SHA256())


@dataclass
class Pki:
    """Every key and certificate of a kubeadm cluster with one control plane."""

    algorithm: str
    start: datetime
    keys: dict[str, Key] = field(default_factory=dict)
    certs: dict[str, x509.Certificate] = field(default_factory=dict)

    def issuer(self, name: str) -> Issuer:
        return Issuer(self.certs[name], self.keys[name])

    def window(self, period: timedelta) -> dict[str, datetime]:
        return {"not_before": self.start - BACKDATE, "not_after": self.start + period}

    def leaf(self, name: str, ca: str, cn: str, **kwargs: Any) -> x509.Certificate:
        return issue(self.keys[name], cn, issuer=self.issuer(ca), **self.window(YEAR), **kwargs)


# name -> (issuing CA, CN, O, usages, SAN kind) as certlist.go defines them.
LEAVES = {
    "apiserver": ("ca", "kube-apiserver", (), (SERVER,), "apiserver"),
    "apiserver-kubelet-client": ("ca", "kube-apiserver-kubelet-client",
                                 ("kubeadm:cluster-admins",), (CLIENT,), None),
    "front-proxy-client": ("front-proxy-ca", "front-proxy-client", (), (CLIENT,), None),
    "etcd/server": ("etcd/ca", CONTROL_PLANE, (), (SERVER, CLIENT), "etcd"),
    "etcd/peer": ("etcd/ca", CONTROL_PLANE, (), (SERVER, CLIENT), "etcd"),
    "etcd/healthcheck-client": ("etcd/ca", "kube-etcd-healthcheck-client", (), (CLIENT,), None),
    "apiserver-etcd-client": ("etcd/ca", "kube-apiserver-etcd-client", (), (CLIENT,), None),
}  # fmt: skip
CAS = {"ca": "kubernetes", "front-proxy-ca": "front-proxy-ca", "etcd/ca": "etcd-ca"}
SANS = {
    "apiserver": (
        (CONTROL_PLANE, "kubernetes", "kubernetes.default", "kubernetes.default.svc",
         "kubernetes.default.svc.cluster.local"),
        ("10.96.0.1", CONTROL_PLANE_ADDRESS),
    ),
    "etcd": ((CONTROL_PLANE, "localhost"), (CONTROL_PLANE_ADDRESS, "127.0.0.1", "::1")),
}  # fmt: skip
# kubeconfig file -> (CN, O) as getKubeConfigSpecsBase defines them.
KUBECONFIG_USERS = {
    "admin.conf": ("kubernetes-admin", ("kubeadm:cluster-admins",)),
    "super-admin.conf": ("kubernetes-super-admin", ("system:masters",)),
    "kubelet.conf": (f"system:node:{CONTROL_PLANE}", ("system:nodes",)),
    "controller-manager.conf": ("system:kube-controller-manager", ()),
    "scheduler.conf": ("system:kube-scheduler", ()),
}


def build_pki(algorithm: str) -> Pki:
    pki = Pki(algorithm, start=datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1))
    for name, cn in CAS.items():
        pki.keys[name] = new_key(algorithm)
        pki.certs[name] = issue(pki.keys[name], cn, dns=[cn], is_ca=True, **pki.window(DECADE))
    for name, (ca, cn, orgs, usages, san_kind) in LEAVES.items():
        pki.keys[name] = new_key(algorithm)
        dns, ips = SANS.get(san_kind or "", ((), ()))
        pki.certs[name] = pki.leaf(name, ca, cn, orgs=orgs, usages=usages, dns=dns, ips=ips)
    pki.keys["sa"] = new_key(algorithm)
    for file, (cn, orgs) in KUBECONFIG_USERS.items():
        pki.keys[file] = new_key(algorithm)
        pki.certs[file] = pki.leaf(file, "ca", cn, orgs=orgs, usages=(CLIENT,))
    # The kubelet makes its own ECDSA P-256 keys, whatever kubeadm's algorithm.
    for node in (CONTROL_PLANE, WORKER):
        name = f"kubelet-client:{node}"
        pki.keys[name] = new_key("ECDSA-P256")
        pki.certs[name] = pki.leaf(name, "ca", f"system:node:{node}", orgs=("system:nodes",),
                                   usages=(CLIENT,))  # fmt: skip
        # Its serving certificate is self-signed, by a CA it makes up on the spot.
        name = f"kubelet-serving:{node}"
        pki.keys[name] = new_key("ECDSA-P256")
        pki.certs[name] = issue(pki.keys[name], f"{node}@1700000000", dns=[node],
                                usages=(SERVER,), **pki.window(YEAR))  # fmt: skip
    return pki


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def kubeconfig(server: str, ca: x509.Certificate, names: tuple[str, str, str],
               user: dict[str, str], namespace: str | None = None) -> str:  # fmt: skip
    """clientcmd.Write's output for one cluster, context and user."""
    cluster, context, user_name = names
    context_body = {"cluster": cluster, "user": user_name}
    if namespace:
        context_body["namespace"] = namespace
    return yaml.safe_dump({
        "apiVersion": "v1",
        "clusters": [{"cluster": {"certificate-authority-data": b64(cert_pem(ca)),
                                  "server": server}, "name": cluster}],
        "contexts": [{"context": context_body, "name": context}],
        "current-context": context,
        "kind": "Config",
        "preferences": {},
        "users": [{"name": user_name, "user": user}],
    })  # fmt: skip


def embedded_user(pki: Pki, name: str) -> dict[str, str]:
    return {
        "client-certificate-data": b64(cert_pem(pki.certs[name])),
        "client-key-data": b64(key_pem(pki.keys[name])),
    }


ROTATING_USER = {"client-certificate": KUBELET_PEM, "client-key": KUBELET_PEM}


@dataclass
class NodeFiles:
    """A node's archived files, to break before packing them as `tar` would."""

    node: str
    role: str
    files: dict[str, FileEntry]
    pki: Pki

    def put(
        self, path: str, data: bytes | str, mode: int = 0o600, uid: int = 0, gid: int = 0
    ) -> None:
        raw = data.encode() if isinstance(data, str) else data
        self.files[path] = FileEntry(path, mode, uid, gid, raw, is_dir=False)

    def mkdir(self, path: str, mode: int = 0o755, uid: int = 0, gid: int = 0) -> None:
        self.files[path] = FileEntry(path, mode, uid, gid, b"", is_dir=True)

    def text(self, path: str) -> str:
        return self.files[path].text

    def edit(self, path: str, old: str, new: str) -> None:
        text = self.text(path)
        assert old in text, f"{old!r} not in {path}"
        self.files[path] = replace(self.files[path], data=text.replace(old, new, 1).encode())

    def chmod(self, path: str, mode: int) -> None:
        self.files[path] = replace(self.files[path], mode=mode)

    def chown(self, path: str, uid: int, gid: int) -> None:
        self.files[path] = replace(self.files[path], uid=uid, gid=gid)

    def remove(self, path: str) -> None:
        del self.files[path]

    def yaml(self, path: str) -> Any:
        return yaml.safe_load(self.text(path))

    def put_yaml(self, path: str, document: Any) -> None:
        self.files[path] = replace(self.files[path], data=yaml.safe_dump(document).encode())

    def put_cert(self, name: str, cert: x509.Certificate) -> None:
        self.put(f"/etc/kubernetes/pki/{name}.crt", cert_pem(cert), 0o644)

    def put_key(self, name: str, key: Key) -> None:
        self.put(f"/etc/kubernetes/pki/{name}.key", key_pem(key), 0o600)

    def tar(self) -> bytes:
        return pack(self.files.values())

    def artifacts(self) -> NodeArtifacts:
        return NodeArtifacts.from_tar(self.node, self.role, self.tar())  # type: ignore[arg-type]


def pack(entries: Iterable[FileEntry]) -> bytes:
    """A tar stream like `tar -cf - /etc/kubernetes ...`: relative names, parents first."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for entry in sorted(entries, key=lambda e: e.path):
            info = tarfile.TarInfo(entry.path.lstrip("/") + ("/" if entry.is_dir else ""))
            info.mode, info.uid, info.gid = entry.mode, entry.uid, entry.gid
            info.uname = info.gname = "root" if entry.uid == 0 else ""
            info.type = tarfile.DIRTYPE if entry.is_dir else tarfile.REGTYPE
            info.size = 0 if entry.is_dir else len(entry.data)
            archive.addfile(info, None if entry.is_dir else io.BytesIO(entry.data))
    return buffer.getvalue()
