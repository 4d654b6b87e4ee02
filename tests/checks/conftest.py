"""Session-wide PKIs: RSA keys take tens of milliseconds each, so every test shares them and
assembles its nodes from them."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from kubeadm_like_pki import Pki, build_pki


@pytest.fixture(scope="session")
def pki_for() -> Callable[[str], Pki]:
    built: dict[str, Pki] = {}

    def get(algorithm: str) -> Pki:
        if algorithm not in built:
            built[algorithm] = build_pki(algorithm)
        return built[algorithm]

    return get


@pytest.fixture(scope="session")
def pki(pki_for: Callable[[str], Pki]) -> Pki:
    """The default lab's PKI (RSA-2048)."""
    return pki_for("RSA-2048")
