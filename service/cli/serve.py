"""Run the service under uvicorn with the given settings (the root `sguardo serve` calls this
after making sure a bundle exists; `uvicorn --factory sguardo.service.app.main:create_app` is the
same app without that step)."""

from __future__ import annotations

from sguardo.service.core.settings import Settings


def run_service(settings: Settings) -> None:
    import uvicorn

    from sguardo.service.app.main import create_app

    # The app logs every request itself (JSON, with request ids): no second access log.
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        access_log=False,
    )
