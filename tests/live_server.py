"""Real servers for tests: a free loopback port, an ASGI app served by uvicorn in a thread, and a
server process run until its readiness URL answers."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _ThreadServer(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # signals belong to the main thread
        pass


@contextmanager
def serve_in_thread(app: Any, *, port: int | None = None, timeout_s: float = 60.0) -> Iterator[str]:
    """Serve `app` on 127.0.0.1 until the block ends; yields the base URL."""
    port = port or free_port()
    server = _ThreadServer(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="sguardo-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


class ServerNotReady(RuntimeError):
    """The process exited or missed its deadline; the message ends with its log."""


@contextmanager
def running_process(
    command: list[str],
    *,
    ready_url: str,
    log: Path,
    timeout_s: float,
    env: Mapping[str, str] | None = None,
    poll_s: float = 0.3,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `command` (stdout and stderr into `log`) until the block ends; yields once
    `ready_url` answers 200. Terminated at the end, killed if it will not stop."""
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                raise ServerNotReady(f"{command[0]} exited:\n{log.read_text()[-4000:]}")
            try:
                if httpx.get(ready_url, timeout=5, trust_env=False).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise ServerNotReady(
                    f"{command[0]} not ready in {timeout_s:.0f} s:\n{log.read_text()[-4000:]}"
                )
            time.sleep(poll_s)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)
