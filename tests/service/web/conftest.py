"""A real server (uvicorn on 127.0.0.1, a free port, a background thread) and Debian's Chromium."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sguardo.service.app.main import create_app
from sguardo.service.core.settings import Settings
from tests.live_server import serve_in_thread

CHROMIUM = os.environ.get("SGUARDO_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _missing(message: str) -> None:
    """A missing browser is a skip on a laptop and a failure in CI."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@dataclass
class LiveServer:
    url: str
    settings: Settings


def start_server(
    settings: Settings, app: Any = None, timeout_s: float = 60.0
) -> Iterator[LiveServer]:
    """Serve `settings` (or a prepared app) until the generator is closed."""
    with serve_in_thread(app or create_app(settings), timeout_s=timeout_s) as url:
        yield LiveServer(url, settings)


@pytest.fixture(scope="module")
def live_server(
    tiny_bundle_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    store = tmp_path_factory.mktemp("web-store")
    settings = Settings(
        bundle_path=tiny_bundle_dir, store_path=store, max_wait_ms=1, demo_gallery=False
    )
    yield from start_server(settings)


@pytest.fixture(scope="module")
def keyed_server(
    tiny_bundle_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    settings = Settings(
        bundle_path=tiny_bundle_dir,
        store_path=tmp_path_factory.mktemp("keyed-store"),
        demo_gallery=False,
        max_wait_ms=1,
        api_key="segreto",
        protect_reads=True,
    )
    yield from start_server(settings)


# Module scope, not session: Playwright's sync API keeps an asyncio loop running while the
# browser lives, which would break `asyncio.run()` in any test collected after these.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = CHROMIUM if Path(CHROMIUM).is_file() else shutil.which("chromium")
    if executable is None:
        _missing(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        yield page
    finally:
        context.close()
