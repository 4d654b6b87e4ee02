"""Repository-wide pytest setup: scenarios need Docker and the node image, unit tests not."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/scenarios/" in str(item.path):
            item.add_marker(pytest.mark.scenario)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "scenario: runs real kubeadm on real node containers")
