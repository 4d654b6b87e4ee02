"""What labkit keeps of a lab on the host, beside its containers: one directory per lab
under the state dir, and this type the only code that knows its file names.

    state = LabState("demo")
    state.kubeconfig            # ~/.local/state/labkit/labs/demo/kubeconfig
    state.spec().cni            # the spec `lab up` saved
    state.upgrade_record()      # the last `lab upgrade`'s account, or None
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from labkit.errors import LabkitError
from labkit.lab.network import LabAddresses
from labkit.naming import state_dir
from labkit.spec import LabSpec

KUBECONFIG_FILE = "kubeconfig"
# The spec as `lab up` took it, its kubernetesVersion rewritten by each upgrade.
SPEC_FILE = "spec.yaml"
# The fixed addresses (LabAddresses) `lab up` chose.
ADDRESSES_FILE = "addresses.json"
# The bring-up's step timings and spec; `lab status` shows the timings.
BRINGUP_RECORD = "bringup.json"
# Which nodes the last upgrade took to which release, and which are pending.
UPGRADE_RECORD = "upgrade.json"


def labs_state_root() -> Path:
    return state_dir() / "labs"


@dataclass(frozen=True)
class LabState:
    """The state directory of the lab `name`; reads return None (or raise LabkitError
    where the caller needs the file) when a file is missing."""

    name: str

    @property
    def directory(self) -> Path:
        return labs_state_root() / self.name

    @property
    def kubeconfig(self) -> Path:
        return self.directory / KUBECONFIG_FILE

    @property
    def spec_path(self) -> Path:
        return self.directory / SPEC_FILE

    def create(self) -> None:
        """The directory, private to this user even when it already existed."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.directory.chmod(0o700)

    def write_kubeconfig(self, config: dict[str, Any]) -> Path:
        """The kubeconfig holds the cluster admin's key: 0600 from its first byte."""
        self.create()
        descriptor = os.open(self.kubeconfig, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "w") as stream:
            yaml.safe_dump(config, stream)
        return self.kubeconfig

    def kubeconfig_server(self) -> tuple[str, str] | None:
        """(cluster name, server) of the lab's kubeconfig, None without one."""
        if not self.kubeconfig.exists():
            return None
        clusters = (yaml.safe_load(self.kubeconfig.read_text()) or {}).get("clusters") or []
        if not clusters:
            return None
        first = clusters[0]
        return str(first.get("name")), str((first.get("cluster") or {}).get("server"))

    def save_spec(self, spec: LabSpec) -> None:
        self.spec_path.write_text(yaml.safe_dump(spec.to_dict(), sort_keys=False))

    def spec(self) -> LabSpec:
        """The spec the lab was brought up from, as `lab up` saved it.

        >>> LabState("demo").spec().networking.pod_subnet  # doctest: +SKIP
        '10.244.0.0/16'
        """
        if not self.spec_path.exists():
            raise LabkitError(
                f"lab {self.name!r} has no saved spec at {self.spec_path}; "
                "was it brought up by this user?"
            )
        return LabSpec.from_file(self.spec_path)

    def record_release(self, release: str) -> None:
        """The saved spec names the release the lab runs now (after an upgrade)."""
        if self.spec_path.exists():
            spec = yaml.safe_load(self.spec_path.read_text()) or {}
            spec["kubernetesVersion"] = release
            self.spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))

    def save_addresses(self, addresses: LabAddresses) -> None:
        (self.directory / ADDRESSES_FILE).write_text(json.dumps(addresses.to_dict(), indent=2))

    def addresses(self) -> LabAddresses | None:
        """None for a lab made before labkit fixed its addresses."""
        data = self._read_json(ADDRESSES_FILE)
        return LabAddresses.from_dict(data) if data is not None else None

    def save_bringup_record(self, record: dict[str, Any]) -> None:
        self._write_json(BRINGUP_RECORD, record)

    def bringup_record(self) -> dict[str, Any]:
        return self._read_json(BRINGUP_RECORD) or {}

    def save_upgrade_record(self, record: dict[str, Any]) -> None:
        self._write_json(UPGRADE_RECORD, record)

    def upgrade_record(self) -> dict[str, Any] | None:
        return self._read_json(UPGRADE_RECORD)

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)

    def _write_json(self, file: str, data: dict[str, Any]) -> None:
        (self.directory / file).write_text(json.dumps(data, indent=2))

    def _read_json(self, file: str) -> Any:
        path = self.directory / file
        return json.loads(path.read_text()) if path.exists() else None


def remove_every_lab_state() -> None:
    root = labs_state_root()
    if root.exists():
        for lab_dir in root.iterdir():
            shutil.rmtree(lab_dir, ignore_errors=True)


def host_kubeconfig(admin_conf: bytes, api_port: int) -> dict[str, Any]:
    """kubeadm's admin.conf pointed at the API port published on the host's loopback (the
    apiserver certificate carries 127.0.0.1: the bring-up adds it to certSANs)."""
    admin = yaml.safe_load(admin_conf)
    for cluster in admin["clusters"]:
        cluster["cluster"]["server"] = f"https://127.0.0.1:{api_port}"
    return admin
