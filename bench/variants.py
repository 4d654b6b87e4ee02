"""Bring-up variants for profiling: labkit's own steps, reordered or with the CNI installed
differently, so that a proposed speedup is measured before it is proposed.

Nothing here changes labkit: a variant is a list of `labkit.lab.bringup` steps, run by the
same pipeline, on the same spec. `python bench/run.py --only labkit --labkit-variant NAME`.

- cni-with-join: install the CNI while the workers join (kind installs it before joining);
  the control plane's flannel then starts during the join instead of after it.
- flannel-api: flannel reaches the API server at the control plane's address instead of
  the `kubernetes` Service (what kind patches into kindnet as CONTROL_PLANE_ENDPOINT), so it
  no longer needs kube-proxy's rules on its node before it can start. Without it, a flannel
  that starts first crash-loops (10 s, then 20 s back-off), and its early calls to
  10.96.0.1 leave the node by the default route.
- jws-wait: before joining, wait (on a watch) until the controller-manager's bootstrap
  signer has signed cluster-info for the lab's token. kubeadm join's discovery otherwise
  finds no signature on its first try and retries only after 5 s.
- flannel-gate: the CNI config is written only once flanneld has its subnet, so a node turns
  Ready only when pods can really get an address. Without it, CoreDNS is scheduled on the
  first Ready node, its sandbox fails (`/run/flannel/subnet.env: no such file`), and the
  kubelet retries the pod only after its fixed 10 s (+ jitter) back-off.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import docker
import yaml
from kubernetes import client as k8s

from labkit.errors import StepFailed
from labkit.kubeadm.config import API_SERVER_PORT
from labkit.lab import bringup, waits
from labkit.lab.bringup import BringUp, BringUpResult, parallel
from labkit.lab.cni import ADMIN_CONF, CNI_MANIFEST, RENDERED_MANIFEST
from labkit.lab.lab import Lab, delete_lab
from labkit.lab.node import ExecFailed
from labkit.pipeline import Progress, Step, run_steps
from labkit.spec import LabSpec

# Written by flanneld once it holds a lease for the node's subnet; the flannel CNI plugin
# fails every pod sandbox until it exists.
FLANNEL_SUBNET_FILE = "/run/flannel/subnet.env"
FLANNEL_CNI_CONF = "/etc/cni/net.d/10-flannel.conflist"


def flannel_manifest(manifest: str, *, api_host: str | None, gate: bool) -> str:
    """labkit's flannel manifest with the API server address and/or the Ready gate."""
    documents = [d for d in yaml.safe_load_all(manifest) if d]
    for document in documents:
        if document.get("kind") != "DaemonSet":
            continue
        pod = document["spec"]["template"]["spec"]
        flanneld = pod["containers"][0]
        if api_host:
            # Explicit env wins over the kubelet's service variables; client-go's in-cluster
            # config reads exactly these two.
            flanneld.setdefault("env", []).extend([
                {"name": "KUBERNETES_SERVICE_HOST", "value": api_host},
                {"name": "KUBERNETES_SERVICE_PORT", "value": str(API_SERVER_PORT)}])
        if gate:
            pod["containers"].append(_gated_install(pod.pop("initContainers")[0]))
    return yaml.safe_dump_all(documents, sort_keys=False)


def _gated_install(install_cni: dict) -> dict:
    gated = copy.deepcopy(install_cni)
    gated["command"] = ["sh", "-c"]
    gated["args"] = [f"until [ -s {FLANNEL_SUBNET_FILE} ]; do sleep 0.2; done; "
                     f"cp -f /etc/kube-flannel/cni-conf.json {FLANNEL_CNI_CONF} "
                     "&& exec sleep 2147483647"]
    gated["volumeMounts"] = [*gated["volumeMounts"],
                             {"name": "run", "mountPath": "/run/flannel", "readOnly": True}]
    return gated


def install_cni(up: BringUp, *, api_server: bool, gate: bool) -> None:
    node = up.control_plane
    manifest = node.read_file(CNI_MANIFEST).decode()
    manifest = manifest.replace("{{ .PodSubnet }}", up.spec.networking.pod_subnet)
    manifest = flannel_manifest(manifest, api_host=up.address(node) if api_server else None,
                                gate=gate)
    node.write_file(RENDERED_MANIFEST, manifest.encode())
    try:
        node.exec(["kubectl", "--kubeconfig", ADMIN_CONF, "apply", "-f", RENDERED_MANIFEST])
    except ExecFailed as failure:
        raise StepFailed(step="install CNI", node=node.name, reason=str(failure)) from failure


def join_material_signed(up: BringUp) -> None:
    bringup.compute_join_material(up)
    key = f"jws-kubeconfig-{up.token.id}"
    core = k8s.CoreV1Api(up.api)
    if not waits.wait_until(core.list_namespaced_config_map,
                            lambda maps: any(key in (m.data or {}) for m in maps),
                            bringup.READY_TIMEOUT, namespace="kube-public",
                            field_selector="metadata.name=cluster-info"):
        raise StepFailed(step="join material", node=up.control_plane.name,
                         reason=f"cluster-info never got a JWS signature for {up.token.id}")


def _with_join(cni: Callable[[BringUp], None]) -> Callable[[BringUp], None]:
    def join_and_install(up: BringUp) -> None:
        parallel([bringup.join_workers, cni], lambda action: action(up))
    return join_and_install


def _steps(cni: Callable[[BringUp], None] | None,
           jws_wait: bool = False) -> list[Step[BringUp]]:
    """labkit's steps with `join workers` and `install CNI` replaced by both at once."""
    if cni is None:
        return list(bringup.BRINGUP_STEPS)
    steps = [s for s in bringup.BRINGUP_STEPS if s.name not in ("join workers", "install CNI")]
    if jws_wait:
        steps = [Step(s.name, join_material_signed) if s.name == "join material" else s
                 for s in steps]
    at = next(i for i, s in enumerate(steps) if s.name == "wait until Ready")
    return [*steps[:at], Step("join workers + install CNI", _with_join(cni)), *steps[at:]]


def _cni(api_server: bool, gate: bool) -> Callable[[BringUp], None]:
    return lambda up: install_cni(up, api_server=api_server, gate=gate)


VARIANTS: dict[str, list[Step[BringUp]]] = {
    "as-is": _steps(None),
    "cni-with-join": _steps(bringup.install_cni),
    "cni-with-join+flannel-api": _steps(_cni(api_server=True, gate=False)),
    "cni-with-join+flannel-api+flannel-gate": _steps(_cni(api_server=True, gate=True)),
    "cni-with-join+flannel-api+flannel-gate+jws-wait": _steps(_cni(api_server=True, gate=True),
                                                              jws_wait=True),
}


def bring_up(spec: LabSpec, variant: str, *, client: docker.DockerClient,
             progress: Progress) -> BringUpResult:
    """labkit.lab.bringup.bring_up with the variant's steps; removes the lab on failure."""
    steps = VARIANTS[variant]
    up = BringUp(spec=spec, client=client, progress=progress)
    timings = run_steps(steps[:1], up, progress)
    try:
        timings += run_steps(steps[1:], up, progress)
    except BaseException:
        delete_lab(client, spec.name)
        raise
    return BringUpResult(Lab(spec.name, client, up.nodes), timings)
