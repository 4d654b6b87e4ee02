"""Go's `time.Duration` text (`8760h0m0s`, `40s`, `1m30s`), as kubeadm and the kubelet print
it in their configs and flags."""

from __future__ import annotations

import re
from datetime import timedelta

from labkit.errors import LabkitError

_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|us|µs|ns|m|s)")
_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def go_duration(text: str) -> timedelta:
    """Parse a Go duration; anything Go's `time.ParseDuration` would refuse is an error.

    >>> go_duration("1m30s")
    datetime.timedelta(seconds=90)
    """
    text = str(text).strip()
    if not text or _PART.sub("", text):
        raise LabkitError(f"{text!r} is not a Go duration such as 24h0m0s")
    return timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in _PART.findall(text)))
