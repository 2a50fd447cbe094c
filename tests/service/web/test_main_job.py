"""The README's main command on a fresh machine: `sguardo serve` with an empty cache exports the
demo bundle, indexes the demo gallery, serves the page, and Italian queries find the photos."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.live_server import ServerNotReady, free_port, running_process

# The page's example queries (service/web/static/index.html), each with the photo it must find.
QUERIES = {
    "un gatto": "chelsea.png",
    "una tazza di caffè": "coffee.png",
    "le stelle nel cielo": "hubble_deep_field.jpg",
}
STARTUP_TIMEOUT_S = 900  # exporting the demo bundle on two CPU cores takes a few minutes


@pytest.fixture(scope="module")
def fresh_serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("fresh-machine")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SGUARDO_")}
    env.update(SGUARDO_CACHE_DIR=str(home / "cache"), SGUARDO_PORT=str(port))
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "sguardo", "serve"]
    try:
        with running_process(
            command,
            ready_url=f"{url}/readyz",
            log=home / "serve.log",
            timeout_s=STARTUP_TIMEOUT_S,
            env=env,
            poll_s=2,
        ):
            yield url
    except ServerNotReady as exc:
        pytest.fail(f"sguardo serve: {exc}")


@pytest.mark.slow
@pytest.mark.parametrize(("query", "filename"), QUERIES.items())
def test_italian_query_finds_the_demo_photo(fresh_serve: str, query: str, filename: str) -> None:
    response = httpx.post(f"{fresh_serve}/search", json={"text": query, "top_k": 3}, timeout=60)
    response.raise_for_status()
    ranked = [hit["payload"]["filename"] for hit in response.json()["hits"]]
    assert ranked[0] == filename, ranked


@pytest.mark.slow
def test_page_shows_the_cat_first(fresh_serve: str, page: Any) -> None:
    page.goto(fresh_serve + "/")
    page.get_by_label("Descrivi l’immagine che cerchi").fill("un gatto")
    page.get_by_role("button", name="Cerca", exact=True).click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('#results li.result img')]"
        ".some((img) => img.complete && img.naturalWidth > 0)"
    )
    assert page.locator("#results .name").first.inner_text() == "Chelsea, un gatto"
    shots = os.environ.get("SGUARDO_SCREENSHOT_DIR")
    if shots:
        page.screenshot(path=str(Path(shots) / "sguardo-un-gatto.png"), full_page=True)
