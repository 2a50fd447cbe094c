"""The serve image, built and run as production runs it: non-root, read-only root filesystem,
the bundle mounted read-only; /readyz and a /search answered from the host."""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from .podman import RUN_FLAGS, build, podman, require_tools

REPO_ROOT = Path(__file__).resolve().parents[3]
DOCKERFILE = REPO_ROOT / "deploy" / "docker" / "Dockerfile.serve"
TAG = "localhost/sguardo-test/serve:test"
UID = "10001"

pytestmark = pytest.mark.container


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(url: str, body: dict | None = None, timeout: float = 30) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def readable_copy(bundle: Path, target: Path) -> Path:
    """pytest's temporary folders are private to root; the container's user must read it."""
    shutil.copytree(bundle, target)
    for path in [target, *target.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return target


@pytest.fixture(scope="module")
def serve_image() -> str:
    require_tools()
    seconds = build(DOCKERFILE, TAG, REPO_ROOT)
    print(f"serve image built in {seconds:.0f} s")
    return TAG


def test_image_declares_health_user_and_entrypoint(serve_image: str) -> None:
    (image,) = json.loads(podman("image", "inspect", serve_image).stdout)
    config = image["Config"]
    assert config["User"] == f"{UID}:{UID}"
    assert config["Entrypoint"] == ["sguardo"] and config["Cmd"] == ["serve"]
    assert "/healthz" in " ".join(image["Healthcheck"]["Test"])
    # The serving install never carries torch (nor a compiler).
    absent = podman(
        "run",
        *RUN_FLAGS,
        "--rm",
        "--entrypoint",
        "python3",
        serve_image,
        "-c",
        "import importlib.util as u, shutil; "
        "print(u.find_spec('torch'), shutil.which('gcc'), shutil.which('cc'))",
    )
    assert absent.stdout.split() == ["None", "None", "None"]


def test_serves_a_read_only_bundle_read_only_as_non_root(
    serve_image: str, tiny_bundle_dir: Path, tmp_path: Path
) -> None:
    from PIL import Image

    bundle = readable_copy(tiny_bundle_dir, tmp_path / "bundle")
    port = free_port()
    name = f"sguardo-test-{os.getpid()}"
    podman(
        "run",
        *RUN_FLAGS,
        "--detach",
        "--name",
        name,
        "--read-only",
        "--user",
        f"{UID}:{UID}",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "-p",
        f"127.0.0.1:{port}:8000",
        "-v",
        f"{bundle}:/models/current:ro",
        "-e",
        "SGUARDO_INTRA_OP_THREADS=1",
        serve_image,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        status, body = 0, {}
        while time.monotonic() < deadline:
            try:
                status, body = call(f"{base}/readyz", timeout=5)
            except (OSError, ValueError):
                status = 0
            if status == 200:
                break
            time.sleep(1)
        logs = podman("logs", name, check=False)
        assert status == 200, f"/readyz: {status} {body}\n{logs.stdout}{logs.stderr}"

        buffer = io.BytesIO()
        Image.new("RGB", (48, 40), (200, 30, 30)).save(buffer, format="PNG")
        image = {"image": base64.b64encode(buffer.getvalue()).decode(), "filename": "rosso.png"}
        status, indexed = call(f"{base}/images", {"images": [image]})
        assert status == 200, indexed
        status, found = call(f"{base}/search", {"text": "un gatto rosso", "top_k": 1})
        assert status == 200, found
        assert [hit["id"] for hit in found["hits"]] == [indexed["images"][0]["id"]]

        # As non-root, on a read-only root filesystem, with the bundle read-only.
        assert podman("exec", name, "id", "-u").stdout.strip() == UID
        for path in ("/opt/sguardo/probe", "/models/current/probe"):
            denied = podman("exec", name, "touch", path, check=False)
            assert denied.returncode != 0 and "Read-only file system" in denied.stderr, path
        (container,) = json.loads(podman("inspect", name).stdout)
        assert container["HostConfig"]["ReadonlyRootfs"] is True
    finally:
        podman("rm", "--force", name, check=False)
