"""Fixtures for the monitoring tests."""

from __future__ import annotations

import pytest

from tests.deploy.monitoring.support import require_binary


@pytest.fixture(scope="session")
def promtool() -> str:
    return require_binary("promtool")
