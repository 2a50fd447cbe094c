"""Run the service under uvicorn with the given settings (the root `sguardo serve` calls this
after making sure a bundle exists; `uvicorn --factory sguardo.service.app.main:create_app` is the
same app without that step)."""

from __future__ import annotations

from starlette.types import ASGIApp

from sguardo.service.core.settings import Settings


def run_service(settings: Settings) -> None:
    from sguardo.service.app.main import create_app

    serve_app(create_app(settings), settings)


def serve_app(app: ASGIApp, settings: Settings) -> None:
    import uvicorn

    # The app logs every request itself (JSON, with request ids): no second access log.
    # log_config=None: uvicorn would otherwise replace the app's JSON handlers with its plain
    # text ones (create_app ran first), and its error lines would not be JSON.
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        access_log=False,
        log_config=None,
    )
