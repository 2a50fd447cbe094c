"""Podman helpers: a Debian base image made offline-friendly, builds, and container runs.

No image registry is reachable here, so the registry base (python:3.11-slim-bookworm) is stood in
for by a Debian bookworm made with `debootstrap` (python3 is 3.11 there) and `podman import`ed.
The root filesystem's tarball is cached under ~/.cache/sguardo-test/ so that reruns skip it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

CACHE = Path.home() / ".cache" / "sguardo-test"
ROOTFS_TAR = CACHE / "debian-bookworm-minbase-python3.tar"
BASE_IMAGE = "localhost/sguardo-test/debian-python:bookworm"
DEBIAN_MIRROR = os.environ.get("SGUARDO_DEBIAN_MIRROR", "http://deb.debian.org/debian")
# The sandbox lacks CAP_SYS_RESOURCE: podman must not try to raise the limits it inherits.
RUN_FLAGS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
# A TLS-intercepting proxy between the build and PyPI signs with a CA only the host trusts.
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")


def require_tools() -> None:
    """podman, runc and debootstrap (Debian packages): a failure in CI, a skip elsewhere."""
    absent = [t for t in ("podman", "runc", "debootstrap") if shutil.which(t) is None]
    if absent:
        message = f"{', '.join(absent)} not installed: apt-get install podman runc debootstrap"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)


def podman(
    *args: str, timeout: float = 120, check: bool = True
) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run(
        ["podman", "--runtime", "runc", *args], capture_output=True, text=True, timeout=timeout
    )
    if check and completed.returncode != 0:
        raise AssertionError(
            f"podman {' '.join(args)} failed:\n{completed.stdout}{completed.stderr}"
        )
    return completed


def ensure_base_image() -> str:
    if podman("image", "exists", BASE_IMAGE, check=False).returncode == 0:
        return BASE_IMAGE
    if not ROOTFS_TAR.is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=CACHE) as scratch:
            rootfs = Path(scratch) / "rootfs"
            subprocess.run(
                [
                    "debootstrap",
                    "--variant=minbase",
                    "--include=python3,python3-venv,ca-certificates",
                    "bookworm",
                    str(rootfs),
                    DEBIAN_MIRROR,
                ],
                check=True,
                capture_output=True,
                timeout=900,
            )
            for deb in (rootfs / "var/cache/apt/archives").glob("*.deb"):
                deb.unlink()
            partial = ROOTFS_TAR.with_suffix(".partial")
            subprocess.run(["tar", "-C", str(rootfs), "-cf", str(partial), "."], check=True)
            partial.rename(ROOTFS_TAR)  # never leave a half-written cache behind
    podman("import", "--quiet", str(ROOTFS_TAR), BASE_IMAGE)
    return BASE_IMAGE


def build(dockerfile: Path, tag: str, context: Path) -> float:
    """Build with chroot isolation (no user namespaces here); returns the seconds the build
    took (the base image, made once and cached, is timed apart)."""
    started = time.monotonic()
    base = ensure_base_image()
    print(f"base image ready in {time.monotonic() - started:.0f} s")
    # The docker format keeps HEALTHCHECK (OCI image configs have no field for it).
    args = ["build", "--isolation", "chroot", "--format", "docker"]
    args += ["--build-arg", f"BASE_IMAGE={base}", "-f", str(dockerfile), "-t", tag]
    if HOST_CA.is_file():
        args += ["-v", f"{HOST_CA}:/run/ca.crt:ro", "--build-arg", "PIP_CERT=/run/ca.crt"]
    started = time.monotonic()
    podman(*args, str(context), timeout=1800)
    return time.monotonic() - started
