"""Troubleshooting access to the API from outside, as a dashboard or a browser would reach it.

One control plane, no CNI (the API is all this needs). Requests go from the host to the
lab's own API server on 127.0.0.1, verified against the lab's CA: without credentials the
API answers 403 for system:anonymous; a ServiceAccount token is authenticated but
forbidden until the account is bound to cluster-admin; the admin's client certificate from
admin.conf is allowed, and exports to PKCS#12 (what a browser imports) without loss.
"""

from __future__ import annotations

import contextlib
import time
import urllib.parse

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
    pkcs12,
)
from cryptography.x509.oid import NameOID
from kubernetes import client as k8s

from labkit.troubleshooting import ApiAccess, ApiResponse, api_request

pytestmark = pytest.mark.lab(workers=0, cni="none")

PODS = "/api/v1/namespaces/kube-system/pods"
WHO_AM_I = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
SELF_SUBJECT_REVIEW = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
NAMESPACE, ACCOUNT = "kube-system", "dashboard-admin"
SERVICE_ACCOUNT_USER = f"system:serviceaccount:{NAMESPACE}:{ACCOUNT}"
# RBAC's authorizer reads bindings from an informer: a new one takes effect a moment later.
RBAC_PROPAGATION = 15.0


def forbidden_to_list_pods(user: str) -> str:
    return (
        f'pods is forbidden: User "{user}" cannot list resource "pods" in API group "" in '
        f'the namespace "{NAMESPACE}"'
    )


@pytest.fixture(scope="module")
def access(lab) -> ApiAccess:
    access = ApiAccess.of(lab)
    assert urllib.parse.urlsplit(access.server).hostname == "127.0.0.1"
    return access


def test_an_anonymous_request_is_forbidden(lab, access: ApiAccess) -> None:
    response = api_request(access, PODS)
    assert response.status == 403
    assert (response.body["reason"], response.body["message"]) == (
        "Forbidden",
        forbidden_to_list_pods("system:anonymous"),
    )
    # Authorization, not an outage: diagnose finds the API answering.
    assert not [d for d in lab.diagnose().diagnoses if d.cause_id.startswith("api.")]


def test_a_service_account_token_is_allowed_once_bound_to_cluster_admin(
    lab_api, access: ApiAccess
) -> None:
    core, rbac = k8s.CoreV1Api(lab_api), k8s.RbacAuthorizationV1Api(lab_api)
    core.create_namespaced_service_account(
        NAMESPACE, k8s.V1ServiceAccount(metadata=k8s.V1ObjectMeta(name=ACCOUNT))
    )
    try:
        request = k8s.AuthenticationV1TokenRequest(
            spec=k8s.V1TokenRequestSpec(audiences=[], expiration_seconds=600)
        )
        token = core.create_namespaced_service_account_token(
            ACCOUNT, NAMESPACE, request
        ).status.token

        who = api_request(access, WHO_AM_I, token=token, body=SELF_SUBJECT_REVIEW)
        assert who.status == 201
        assert who.body["status"]["userInfo"]["username"] == SERVICE_ACCOUNT_USER
        unbound = api_request(access, PODS, token=token)
        assert (unbound.status, unbound.body["message"]) == (
            403,
            forbidden_to_list_pods(SERVICE_ACCOUNT_USER),
        )

        rbac.create_cluster_role_binding(
            k8s.V1ClusterRoleBinding(
                metadata=k8s.V1ObjectMeta(name=ACCOUNT),
                role_ref=k8s.V1RoleRef(
                    api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="cluster-admin"
                ),
                subjects=[
                    k8s.RbacV1Subject(kind="ServiceAccount", name=ACCOUNT, namespace=NAMESPACE)
                ],
            )
        )
        allowed = until_allowed(access, PODS, token)
        assert allowed.status == 200 and allowed.body["kind"] == "PodList"
        assert any(
            p["metadata"]["name"].startswith("kube-apiserver-") for p in allowed.body["items"]
        )
    finally:
        with contextlib.suppress(k8s.ApiException):  # 404: the test failed before binding
            rbac.delete_cluster_role_binding(ACCOUNT)
        core.delete_namespaced_service_account(ACCOUNT, NAMESPACE)


def until_allowed(access: ApiAccess, path: str, token: str) -> ApiResponse:
    """The response once RBAC lets the token in (it polls: an authorizer has no watch)."""
    deadline = time.monotonic() + RBAC_PROPAGATION
    while True:
        response = api_request(access, path, token=token)
        if response.status != 403 or time.monotonic() > deadline:
            return response
        time.sleep(0.2)


def test_the_admin_client_certificate_is_allowed_and_exports_to_pkcs12(access: ApiAccess) -> None:
    certificate = x509.load_pem_x509_certificate(access.client_cert_pem)
    key = load_pem_private_key(access.client_key_pem, password=None)
    ca = x509.load_pem_x509_certificate(access.ca_pem)
    subject = certificate.subject
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "kubernetes-admin"
    assert (
        subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value
        == "kubeadm:cluster-admins"
    )
    assert isinstance(key, rsa.RSAPrivateKey)

    pods = api_request(access, PODS, client_certificate=True)
    assert pods.status == 200 and pods.body["kind"] == "PodList"
    who = api_request(access, WHO_AM_I, client_certificate=True, body=SELF_SUBJECT_REVIEW)
    assert who.status == 201
    user = who.body["status"]["userInfo"]
    assert user["username"] == "kubernetes-admin"
    assert {"kubeadm:cluster-admins", "system:authenticated"} <= set(user["groups"])

    password = b"labkit"
    bundle = pkcs12.serialize_key_and_certificates(
        b"kubernetes-admin", key, certificate, [ca], BestAvailableEncryption(password)
    )
    loaded = pkcs12.load_pkcs12(bundle, password)
    assert loaded.cert is not None and loaded.key is not None
    assert loaded.cert.certificate == certificate
    assert loaded.cert.friendly_name == b"kubernetes-admin"
    assert [c.certificate for c in loaded.additional_certs] == [ca]

    def der(private_key) -> bytes:
        return private_key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())

    assert der(loaded.key) == der(key)
    with pytest.raises(ValueError):
        pkcs12.load_pkcs12(bundle, b"not the password")
