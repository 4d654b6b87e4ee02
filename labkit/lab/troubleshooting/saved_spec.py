"""The spec a lab was brought up from, which the troubleshooting steps render from again."""

from __future__ import annotations

from labkit.errors import LabkitError
from labkit.lab.lab import Lab
from labkit.spec import LabSpec


def lab_spec(lab: Lab) -> LabSpec:
    """The spec the lab was brought up from, as `lab up` saved it.

    >>> lab_spec(lab).networking.pod_subnet
    '10.244.0.0/16'
    """
    path = lab.state_dir / "spec.yaml"
    if not path.exists():
        raise LabkitError(
            f"lab {lab.name!r} has no saved spec at {path}; was it brought up by this user?"
        )
    return LabSpec.from_file(path)
