"""Paths and helpers for the monitoring tests: Debian's Prometheus binaries, the dashboard
generator (a script under deploy/, loaded by path: deploy/ is not a package), the README."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
from pathlib import Path
from types import ModuleType

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
MONITORING = REPO_ROOT / "deploy" / "monitoring"
RULES_DIR = MONITORING / "prometheus" / "rules"
RULE_FILES = sorted(RULES_DIR.glob("*.yml"))
UNIT_TESTS = MONITORING / "prometheus" / "tests" / "sguardo-rules.test.yml"
PROMETHEUS_CONFIG = MONITORING / "prometheus" / "prometheus.yml"
DASHBOARD_SCRIPT = MONITORING / "dashboard.py"


def require_binary(name: str) -> str:
    """A missing binary is a skip on a laptop and a failure in CI (`apt-get install prometheus
    prometheus-pushgateway`)."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} not found: apt-get install -y prometheus prometheus-pushgateway"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def load_dashboard_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sguardo_dashboard", DASHBOARD_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def monitoring_readme() -> str:
    """The README's "Monitoring" section."""
    readme = (REPO_ROOT / "README.md").read_text()
    match = re.search(r"^## Monitoring\n(.*?)(?=^## |\Z)", readme, re.MULTILINE | re.DOTALL)
    assert match, "README.md has no '## Monitoring' section"
    return match.group(1)
