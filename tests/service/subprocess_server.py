"""The service under uvicorn in a process of its own, as `sguardo serve` runs it: for what only a
real server shows (log lines on stderr, keep-alive connections, the process's RSS)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.live_server import free_port, running_process

# serve_app is what run_service calls; /boom is a route with a bug, for the 500 path.
_SCRIPT = """
import os
from sguardo.service.app.main import create_app
from sguardo.service.cli.serve import serve_app
from sguardo.service.core.settings import Settings

settings = Settings()
app = create_app(settings)
if os.environ.get("SGUARDO_TEST_BOOM"):
    async def boom() -> None:
        raise RuntimeError("kaboom: a bug")
    app.add_api_route("/boom", boom)
serve_app(app, settings)
"""


@dataclass
class Served:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")


@contextmanager
def serve_subprocess(
    bundle: Path, workdir: Path, *, boom: bool = False, **settings: str
) -> Iterator[Served]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SGUARDO_")}
    env.update(
        SGUARDO_BUNDLE_PATH=str(bundle),
        SGUARDO_STORE_PATH=str(workdir / "store"),
        SGUARDO_DEMO_GALLERY="false",
        SGUARDO_INTRA_OP_THREADS="1",
        SGUARDO_PORT=str(port),
        SGUARDO_LOG_LEVEL="INFO",
    )
    env.update({f"SGUARDO_{k.upper()}": v for k, v in settings.items()})
    if boom:
        env["SGUARDO_TEST_BOOM"] = "1"
    log = workdir / "server.log"
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-c", _SCRIPT]
    with running_process(
        command, ready_url=f"{url}/readyz", log=log, timeout_s=120, env=env
    ) as process:
        yield Served(url, process, log)
