"""The Triton encoder against a real Triton server (PyTriton's), compared with ONNX Runtime.

PyTriton pins numpy<2, so it lives in its own environment: `make pytriton` builds
`.venv-pytriton/` and `make test` points SGUARDO_PYTRITON_PYTHON at it. Without one the
real-server tests skip locally and fail when CI=true; the client-side checks always run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from sguardo.bundle.loader import Bundle
from sguardo.service.app.main import create_app
from sguardo.service.core.settings import Settings
from sguardo.service.encoders.base import EncoderError, EncoderUnavailableError
from sguardo.service.encoders.onnxruntime import OnnxRuntimeEncoder
from sguardo.service.encoders.triton import TritonEncoder
from tests.live_server import free_port

SERVER_SCRIPT = Path(__file__).with_name("pytriton_server.py")
START_TIMEOUT_S = 120
START_ATTEMPTS = 2


def _pytriton_python() -> str | None:
    candidates = [os.environ.get("SGUARDO_PYTRITON_PYTHON"), sys.executable]
    for python in filter(None, candidates):
        found = subprocess.run(
            [python, "-c", "import pytriton, onnxruntime"], capture_output=True, check=False
        )
        if found.returncode == 0:
            return python
    return None


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_an_unreachable_server_is_not_ready_and_refused_at_once(protocol: str) -> None:
    """Triton may start after the service: no crash, not ready, a clear 503-type error."""
    encoder = TritonEncoder(
        f"127.0.0.1:{free_port()}",
        protocol=protocol,  # type: ignore[arg-type]
        timeout_s=2,
        retry_initial_s=0.05,
    )
    try:
        assert encoder.ready is False
        assert "unreachable" in encoder.last_error
        started = time.perf_counter()
        with pytest.raises(EncoderUnavailableError, match="reconnects by itself") as refused:
            encoder.encode_text(np.ones((1, 4), np.int64), np.ones((1, 4), np.int64))
        assert time.perf_counter() - started < 0.5 and refused.value.retry_after >= 1
        assert isinstance(refused.value, EncoderError)
        assert "127.0.0.1" not in str(refused.value)  # addresses stay in the log
    finally:
        encoder.close()


@pytest.fixture(scope="module")
def triton_server(tiny_bundle_dir: Path) -> Iterator[tuple[int, int]]:
    """(http_port, grpc_port) of a Triton server hosting the tiny bundle's two graphs."""
    # PyTriton occasionally stalls while binding its models: one more try on fresh ports.
    for attempt in range(1, START_ATTEMPTS + 1):
        ports = [free_port() for _ in range(3)]
        started = _launch(tiny_bundle_dir, ports, fail=attempt == START_ATTEMPTS)
        if started is not None:
            break
    assert started is not None
    try:
        yield ports[0], ports[1]
    finally:
        _stop(started[0])
        started[1].wait(5)


def _pytriton_env() -> tuple[str, dict[str, str]]:
    python = _pytriton_python()
    if python is None:
        message = "no Python with nvidia-pytriton: set SGUARDO_PYTRITON_PYTHON (`make pytriton`)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)  # CI installs it: a skip there would hide a missing step
        pytest.skip(message)
    # The Python backend stub links the system libpython; make it load the interpreter's own.
    libdir = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_config_var('LIBDIR'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    env = {**os.environ, "LD_LIBRARY_PATH": f"{libdir}:{os.environ.get('LD_LIBRARY_PATH', '')}"}
    return python, env


def _launch(
    bundle: Path, ports: list[int], *, fail: bool = True
) -> tuple[subprocess.Popen[bytes], subprocess.Popen[bytes]] | None:
    """A PyTriton server on `ports` (http, grpc, metrics), READY, and the process draining
    its output; None (or a test failure, with `fail`) if it did not get ready."""
    python, env = _pytriton_env()
    process = subprocess.Popen(
        [python, str(SERVER_SCRIPT), str(bundle), *map(str, ports)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    ready, output = _wait_for_ready(process, START_TIMEOUT_S)
    if not ready:
        _stop(process)
        if fail:
            pytest.fail(f"PyTriton server not ready in {START_TIMEOUT_S}s:\n{output[-4000:]}")
        return None
    assert process.stdout is not None
    # Keep draining its output so the server never blocks on a full pipe.
    drain = subprocess.Popen(["cat"], stdin=process.stdout, stdout=subprocess.DEVNULL)
    return process, drain


def _wait_for_ready(process: subprocess.Popen[bytes], timeout_s: float) -> tuple[bool, str]:
    """Read the server's output until it prints READY, exits, or `timeout_s` passes: bounded,
    unlike a bare readline(), which blocks for as long as the server stays silent."""
    assert process.stdout is not None
    output = b""
    deadline = time.monotonic() + timeout_s
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while (remaining := deadline - time.monotonic()) > 0:
            if not selector.select(remaining):
                break
            chunk = os.read(process.stdout.fileno(), 65536)
            if not chunk:  # the server exited
                break
            output += chunk
            if b"READY\n" in output:
                return True, output.decode(errors="replace")
    return False, output.decode(errors="replace")


def _stop(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(30)


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_triton_returns_the_onnxruntime_vectors(
    protocol: str,
    triton_server: tuple[int, int],
    tiny_bundle_dir: Path,
    italian_sentences: list[str],
    shared_data: Path,
) -> None:
    bundle = Bundle.load(tiny_bundle_dir)
    port = triton_server[0] if protocol == "http" else triton_server[1]
    triton = TritonEncoder(f"127.0.0.1:{port}", protocol=protocol)  # type: ignore[arg-type]
    local = OnnxRuntimeEncoder(bundle, intra_op_threads=1)
    tokens = bundle.tokenizer()(italian_sentences)
    np.testing.assert_allclose(
        triton.encode_text(tokens["input_ids"], tokens["attention_mask"]),
        local.encode_text(tokens["input_ids"], tokens["attention_mask"]),
        atol=1e-5,
    )
    photos = sorted((shared_data / "imagenet-sample-it" / "images").glob("*.jpg"))[:5]
    pixels = bundle.image_preprocessor().batch(
        [bundle.image_preprocessor().decode(p.read_bytes()) for p in photos]
    )
    np.testing.assert_allclose(triton.encode_images(pixels), local.encode_images(pixels), atol=1e-5)
    assert triton.info.backend == "triton" and triton.info.active_providers == [
        f"triton-{protocol}"
    ]
    triton.close()


def test_the_service_embeds_through_triton(
    triton_server: tuple[int, int], tiny_bundle_dir: Path, tmp_path: Path
) -> None:
    def settings(**extra: object) -> Settings:
        return Settings(
            bundle_path=tiny_bundle_dir,
            store_path=tmp_path / "store",
            demo_gallery=False,
            log_level="WARNING",
            **extra,  # type: ignore[arg-type]
        )

    async def embed(app_settings: Settings) -> tuple[list[list[float]], dict[str, object]]:
        app = create_app(app_settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                calls = [http.post("/embed", json={"texts": [t]}) for t in ("gatto", "due cani")]
                responses = await asyncio.gather(*calls)
                version = (await http.get("/version")).json()
        return [r.json()["text_vectors"][0] for r in responses], version

    via_triton, version = asyncio.run(
        embed(
            settings(
                encoder_backend="triton",
                triton_url=f"127.0.0.1:{triton_server[1]}",
                triton_protocol="grpc",
            )
        )
    )
    shutil.rmtree(tmp_path / "store")
    via_ort, _ = asyncio.run(embed(settings()))
    np.testing.assert_allclose(via_triton, via_ort, atol=1e-5)
    assert version["encoder"]["backend"] == "triton"  # type: ignore[index]


def _wait_until_free(ports: list[int], timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    for port in ports:
        while True:
            with socket.socket() as probe:
                try:
                    probe.bind(("127.0.0.1", port))
                    break
                except OSError:
                    assert time.monotonic() < deadline, f"port {port} still taken"
                    time.sleep(0.5)


def test_the_service_starts_without_triton_and_recovers_as_it_comes_and_goes(
    tiny_bundle_dir: Path, tmp_path: Path
) -> None:
    """Under Kubernetes Triton may start after the service, or restart under load: the service
    starts not ready, answers 503 + Retry-After (never 500) while Triton is away, and recovers
    by itself each time it returns (issue 14, item 10)."""
    _pytriton_env()  # skips (or fails in CI) without PyTriton
    ports = [free_port() for _ in range(3)]
    settings = Settings(
        bundle_path=tiny_bundle_dir,
        store_path=tmp_path / "store",
        demo_gallery=False,
        log_level="CRITICAL",
        encoder_backend="triton",
        triton_url=f"127.0.0.1:{ports[1]}",
        triton_protocol="grpc",
        triton_timeout_s=5,
    )

    def wait_until_ready(client: TestClient, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, client.get("/readyz").text
            time.sleep(0.2)

    with TestClient(create_app(settings)) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["encoder"] is False
        refused = client.post("/embed", json={"texts": ["gatto"]})
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["code"] == "encoder_unavailable"
        assert int(refused.headers["retry-after"]) >= 1

        server = _launch(tiny_bundle_dir, ports)
        assert server is not None
        wait_until_ready(client)
        assert client.post("/embed", json={"texts": ["gatto"]}).status_code == 200

        statuses: list[int] = []
        stop = threading.Event()

        def load() -> None:
            while not stop.is_set():
                statuses.append(client.post("/embed", json={"texts": ["due cani"]}).status_code)

        workers = [threading.Thread(target=load) for _ in range(3)]
        for worker in workers:
            worker.start()
        try:
            time.sleep(1)
            _stop(server[0])  # Triton goes away under load...
            server[1].wait(5)
            deadline = time.monotonic() + 30
            while 503 not in statuses[-20:] and time.monotonic() < deadline:
                time.sleep(0.1)
            _wait_until_free(ports)  # its helper processes let go of the ports
            server = _launch(tiny_bundle_dir, ports)  # ...and comes back on the same ports
            assert server is not None
            wait_until_ready(client)
            seen = len(statuses)
            time.sleep(2)
        finally:
            stop.set()
            for worker in workers:
                worker.join(30)
            if server is not None:
                _stop(server[0])
                server[1].wait(5)
    assert set(statuses) <= {200, 503}, sorted(set(statuses))
    assert 503 in statuses and 200 in statuses
    assert statuses[seen:] and set(statuses[seen + 10 :]) <= {200}
