"""kubeadm's inputs for a lab: its configuration files, bootstrap tokens and join material.

Everything here is pure (no Docker, no network): the bring-up steps render a config, write
it into a node and run kubeadm there.
"""

from labkit.kubeadm.config import InitPhase, init_config, init_phases, join_config, merge
from labkit.kubeadm.discovery import JoinCommand, ca_cert_hash, parse_join_command
from labkit.kubeadm.token import BootstrapToken

__all__ = [
    "BootstrapToken",
    "InitPhase",
    "JoinCommand",
    "ca_cert_hash",
    "init_config",
    "init_phases",
    "join_config",
    "merge",
    "parse_join_command",
]
