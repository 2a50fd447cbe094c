"""GET /, the static files and GET /config, without a browser."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from sguardo.service.app.main import create_app
from sguardo.service.core.settings import Settings


def test_page_static_files_and_config(tiny_bundle_dir: Path, tmp_path: Path) -> None:
    settings = Settings(
        bundle_path=tiny_bundle_dir,
        store_path=tmp_path / "store",
        demo_gallery=False,
        api_key="segreto-lungo",
        protect_reads=False,
    )
    with TestClient(create_app(settings)) as client:
        page = client.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert '<html lang="it">' in page.text
        for asset, kind in (("app.js", "javascript"), ("style.css", "text/css")):
            response = client.get(f"/static/{asset}")
            assert response.status_code == 200 and kind in response.headers["content-type"]
        config = client.get("/config").json()
        assert config["uploads_require_key"] is True
        assert config["reads_require_key"] is False
        assert "segreto-lungo" not in client.get("/config").text
