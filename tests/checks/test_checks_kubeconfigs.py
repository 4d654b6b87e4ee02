"""Each kubeconfig rule fails alone when its invariant is broken on an otherwise good node."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from breakage import NodeCase, assert_only_rule_fails, run_node_case
from kubeadm_like_pki import (
    CLIENT,
    KUBECONFIG_USERS,
    YEAR,
    NodeFiles,
    Pki,
    b64,
    cert_pem,
    embedded_user,
    issue,
    key_pem,
    new_key,
)

K8S = "/etc/kubernetes"
PEM = "/var/lib/kubelet/pki/kubelet-client-current.pem"


def edit_user(file: str, **fields: str) -> Callable[[NodeFiles], None]:
    def mutate(files: NodeFiles) -> None:
        document = files.yaml(f"{K8S}/{file}")
        document["users"][0]["user"] |= fields
        files.put_yaml(f"{K8S}/{file}", document)

    return mutate


def client_cert(file: str, **changes: Any) -> Callable[[NodeFiles], None]:
    """Re-issue a kubeconfig's embedded client certificate with `changes`."""

    def mutate(files: NodeFiles) -> None:
        pki = files.pki
        cn, orgs = KUBECONFIG_USERS[file]
        args: dict[str, Any] = {"orgs": orgs, "usages": (CLIENT,), "issuer": pki.issuer("ca"),
                                **pki.window(YEAR)} | changes  # fmt: skip
        key = args.pop("key", pki.keys[file])
        cert = issue(key, args.pop("cn", cn), **args)
        edit_user(file, **{"client-certificate-data": b64(cert_pem(cert)),
                           "client-key-data": b64(key_pem(key))})(files)  # fmt: skip

    return mutate


def _key_data(files: NodeFiles, file: str) -> str:
    return b64(key_pem(files.pki.keys[file]))


def _rename_context(files: NodeFiles) -> None:
    document = files.yaml(f"{K8S}/admin.conf")
    document["contexts"][0]["name"] = document["current-context"] = "admin@kubernetes"
    files.put_yaml(f"{K8S}/admin.conf", document)


def _dangling_context(files: NodeFiles) -> None:
    files.edit(f"{K8S}/scheduler.conf", "current-context: system:kube-scheduler@kubernetes",
               "current-context: scheduler")  # fmt: skip


def _server(file: str, server: str) -> Callable[[NodeFiles], None]:
    def mutate(files: NodeFiles) -> None:
        document = files.yaml(f"{K8S}/{file}")
        document["clusters"][0]["cluster"]["server"] = server
        files.put_yaml(f"{K8S}/{file}", document)

    return mutate


def _foreign_ca(files: NodeFiles) -> None:
    document = files.yaml(f"{K8S}/admin.conf")
    other = b64(cert_pem(files.pki.certs["front-proxy-ca"]))
    document["clusters"][0]["cluster"]["certificate-authority-data"] = other
    files.put_yaml(f"{K8S}/admin.conf", document)


def _expired(files: NodeFiles) -> None:
    start = files.pki.start - timedelta(days=400)
    client_cert("scheduler.conf", not_before=start, not_after=start + YEAR)(files)


def _not_finalized(files: NodeFiles) -> None:
    document = files.yaml(f"{K8S}/kubelet.conf")
    document["users"][0]["user"] = embedded_user(files.pki, "kubelet.conf")
    files.put_yaml(f"{K8S}/kubelet.conf", document)


CASES = [
    NodeCase("kubeconfig.files", "no super-admin.conf on the first control plane",
             lambda f: f.remove(f"{K8S}/super-admin.conf"), f"{K8S}/super-admin.conf",
             "no such file"),
    NodeCase("kubeconfig.files", "bootstrap-kubelet.conf left behind",
             lambda f: f.put(f"{K8S}/bootstrap-kubelet.conf", f.text(f"{K8S}/kubelet.conf")),
             f"{K8S}/bootstrap-kubelet.conf", "no bootstrap-kubelet.conf on this worker",
             role="worker"),
    NodeCase("kubeconfig.structure", "context renamed", _rename_context, f"{K8S}/admin.conf",
             "kubernetes-admin@kubernetes"),
    NodeCase("kubeconfig.structure", "current context resolves to nothing", _dangling_context,
             f"{K8S}/scheduler.conf", "no entry named 'scheduler'"),
    NodeCase("kubeconfig.structure", "garbage client certificate",
             edit_user("controller-manager.conf", **{"client-certificate-data": b64(b"junk")}),
             f"{K8S}/controller-manager.conf", "unparseable"),
    NodeCase("kubeconfig.server", "scheduler talks to another apiserver",
             _server("scheduler.conf", "https://10.0.0.1:6443"), f"{K8S}/scheduler.conf",
             "server https://172.18.0.2:6443"),
    NodeCase("kubeconfig.server", "kubelet.conf not on the local apiserver",
             _server("kubelet.conf", "https://lab.example.com:6443"), f"{K8S}/kubelet.conf",
             "server https://172.18.0.2:6443"),
    NodeCase("kubeconfig.ca", "trusts the front-proxy CA", _foreign_ca, f"{K8S}/admin.conf",
             "certificate-authority-data equal to /etc/kubernetes/pki/ca.crt"),
    NodeCase("kubeconfig.client-identity", "admin.conf in system:masters",
             client_cert("admin.conf", orgs=("system:masters",)), f"{K8S}/admin.conf",
             "CN=kubernetes-admin O=['kubeadm:cluster-admins']"),
    NodeCase("kubeconfig.client-identity", "kubelet certificate of another node",
             lambda f: f.put(PEM, cert_pem(f.pki.certs["kubelet-client:lab-worker"])
                             + key_pem(f.pki.keys["kubelet-client:lab-worker"])),
             PEM, "CN=system:node:lab-control-plane"),
    NodeCase("kubeconfig.client-issuer", "signed by the front-proxy CA",
             lambda f: client_cert("controller-manager.conf",
                                   issuer=f.pki.issuer("front-proxy-ca"))(f),
             f"{K8S}/controller-manager.conf", "signed by /etc/kubernetes/pki/ca.crt"),
    NodeCase("kubeconfig.client-key-pair", "key of another kubeconfig",
             lambda f: edit_user("admin.conf",
                                 **{"client-key-data": _key_data(f, "scheduler.conf")})(f),
             f"{K8S}/admin.conf", "a different key"),
    NodeCase("kubeconfig.client-validity", "expired client certificate", _expired,
             f"{K8S}/scheduler.conf", "valid at"),
    NodeCase("kubeconfig.key-algorithm", "ECDSA client key in an RSA-2048 cluster",
             lambda f: client_cert("admin.conf", key=new_key("ECDSA-P256"))(f),
             f"{K8S}/admin.conf", "a RSA-2048 key"),
    NodeCase("kubeconfig.kubelet-rotation", "no kubelet-client-current.pem",
             lambda f: f.remove(PEM), PEM, "no such file", role="worker"),
    NodeCase("kubeconfig.kubelet-rotation", "kubelet-finalize did not run", _not_finalized,
             f"{K8S}/kubelet.conf", f"client-certificate and client-key {PEM}"),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_broken_kubeconfig_fails_only_its_rule(case: NodeCase, pki: Pki) -> None:
    assert_only_rule_fails(run_node_case(case, pki), case)
