"""`GET /` (the search page), `/static/...` and `GET /config`, what the page needs to know."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from sguardo.service.core.settings import Settings

STATIC_DIR = Path(__file__).with_name("static")

router = APIRouter(include_in_schema=False)


def _settings(request: Request) -> Settings:
    settings = getattr(request.app.state, "settings", None)
    return settings if isinstance(settings, Settings) else Settings()


@router.get("/")
async def index() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})


@router.get("/config")
async def page_config(request: Request) -> dict[str, Any]:
    """Whether the page should ask for a key before uploading or reading; no secrets."""
    settings = _settings(request)
    keyed = bool(settings.api_key)
    return {
        "uploads_require_key": keyed,
        "reads_require_key": keyed and settings.protect_reads,
        "max_image_bytes": settings.limits.max_image_bytes,
        "max_items_per_request": settings.limits.max_items_per_request,
    }


def mount_web(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
