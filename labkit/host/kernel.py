"""What the host kernel grants containers: capabilities, cgroup layout, inotify limits."""

from __future__ import annotations

from pathlib import Path

# linux/capability.h numbering; must match capwrap/caps.go.
CAPABILITY_NAMES = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
)

# kind's users raise the defaults (8192/128) to these so that several kubelets and their
# pods, each holding inotify instances, fit on one host.
INOTIFY_MINIMUMS = {"max_user_watches": 524288, "max_user_instances": 512}


def capability_name(number: int) -> str:
    if number < len(CAPABILITY_NAMES):
        return CAPABILITY_NAMES[number]
    return f"CAP_{number}"


def capabilities_outside(cap_bnd: str, last_cap: int) -> frozenset[str]:
    """Capabilities up to `last_cap` whose bit is clear in a CapBnd mask such as
    "000001fffeffffff"; runc fails to grant any of them ("unable to apply caps")."""
    mask = int(cap_bnd.strip(), 16)
    return frozenset(capability_name(n) for n in range(last_cap + 1) if not mask >> n & 1)


def cap_bnd_of(status: str) -> str:
    """The CapBnd field of a /proc/<pid>/status text."""
    for line in status.splitlines():
        key, _, value = line.partition(":")
        if key == "CapBnd":
            return value.strip()
    raise ValueError("no CapBnd line in the process status")


def missing_capabilities(proc: Path = Path("/proc")) -> frozenset[str]:
    """What this process's bounding set lacks, and so what dockerd, started in the same
    sandbox, cannot give a privileged container."""
    status = (proc / "self" / "status").read_text()
    last_cap = int((proc / "sys" / "kernel" / "cap_last_cap").read_text())
    return capabilities_outside(cap_bnd_of(status), last_cap)


def cgroup_mode(root: Path = Path("/sys/fs/cgroup")) -> str:
    """ "v2" (unified), "hybrid" (v1 controllers plus a cgroup2 mount at unified/) or "v1"."""
    if (root / "cgroup.controllers").exists():
        return "v2"
    if (root / "unified" / "cgroup.controllers").exists():
        return "hybrid"
    return "v1"


def inotify_limits(proc: Path = Path("/proc")) -> dict[str, int]:
    directory = proc / "sys" / "fs" / "inotify"
    return {name: int((directory / name).read_text()) for name in INOTIFY_MINIMUMS}
