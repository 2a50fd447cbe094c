"""`sguardo index --url`: the same bulk indexing through a running service's POST /images."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from sguardo.cli import app
from sguardo.service.app.main import create_app
from sguardo.service.core.settings import Settings
from sguardo.service.store.ids import point_id_for_bytes
from tests.live_server import free_port, serve_in_thread


@pytest.fixture(scope="module")
def server(tiny_bundle_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    port = free_port()
    settings = Settings(
        bundle_path=tiny_bundle_dir,
        store_path=tmp_path_factory.mktemp("remote-store"),
        demo_gallery=False,
        max_wait_ms=1,
        api_key="chiave",
        port=port,
    )
    with serve_in_thread(create_app(settings), port=port):
        yield settings


def invoke(settings: Settings, *args: str) -> tuple[int, str]:
    env = {
        "SGUARDO_BUNDLE_PATH": str(settings.bundle_path),
        "SGUARDO_STORE_PATH": str(settings.store_path),
        "COLUMNS": "200",
    }
    result = CliRunner().invoke(app, ["index", *args], env=env)
    return result.exit_code, " ".join(result.output.split())


def test_index_through_the_service(server: Settings, tmp_path: Path, shared_data: Path) -> None:
    photos = sorted((shared_data / "coco128" / "images" / "val2017").glob("*.jpg"))[30:35]
    folder = tmp_path / "photos"
    folder.mkdir()
    for photo in photos:
        shutil.copy(photo, folder / photo.name)
    data = photos[0].read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 3])
    (folder / "readme.md").write_text("# not an image")
    url = f"http://127.0.0.1:{server.port}"

    code, output = invoke(server, str(folder), "--url", url)
    assert code == 1 and "API key" in output  # the service wants its key

    code, output = invoke(
        server, str(folder), "--url", url, "--api-key", "chiave", "--batch-size", "2"
    )
    assert code == 0, output
    assert "5 indexed, 0 already" in output and "2 skipped" in output
    assert "truncated.jpg" in output and "cannot decode" in output
    for photo in photos:
        point_id = point_id_for_bytes(photo.read_bytes())
        assert httpx.get(f"{url}/images/{point_id}", timeout=30).status_code == 200

    code, output = invoke(server, str(folder), "--url", url, "--api-key", "chiave")
    assert code == 0 and "0 indexed, 5 already" in output

    # In-process against the store the service holds: refused, with the way out.
    code, output = invoke(server, str(folder))
    assert code == 1 and "--url" in output and "another process" in output
