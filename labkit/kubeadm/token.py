"""Bootstrap tokens: the shared secret a joining node presents to the API server."""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass, field

from labkit.errors import LabkitError

# kubeadm's format (k8s.io/cluster-bootstrap/token/api: BootstrapTokenPattern); the id
# names the Secret bootstrap-token-<id> in kube-system, the secret is checked against it.
TOKEN_PATTERN = re.compile(r"^(?P<id>[a-z0-9]{6})\.(?P<secret>[a-z0-9]{16})$")
_ALPHABET = string.ascii_lowercase + string.digits


@dataclass(frozen=True)
class BootstrapToken:
    """`<id>.<secret>`; the secret stays out of repr() so it does not end up in logs."""

    id: str
    secret: str = field(repr=False)

    def __post_init__(self) -> None:
        if not TOKEN_PATTERN.match(f"{self.id}.{self.secret}"):
            raise LabkitError(
                f"bootstrap token with id {self.id!r}: expected [a-z0-9]{{6}}.[a-z0-9]{{16}}"
            )

    @classmethod
    def generate(cls) -> BootstrapToken:
        def draw(length: int) -> str:
            return "".join(secrets.choice(_ALPHABET) for _ in range(length))

        return cls(draw(6), draw(16))

    @classmethod
    def parse(cls, text: str) -> BootstrapToken:
        match = TOKEN_PATTERN.match(text.strip())
        if not match:
            # Show only the part before the dot: the rest may be a real secret.
            shown = text.strip().split(".", 1)[0][:12]
            raise LabkitError(
                f"bootstrap token {shown!r}...: not a kubeadm bootstrap token; expected 6 "
                "then 16 characters of a-z and 0-9 joined by a dot, such as "
                "abcdef.0123456789abcdef"
            )
        return cls(match["id"], match["secret"])

    def __str__(self) -> str:
        return f"{self.id}.{self.secret}"
