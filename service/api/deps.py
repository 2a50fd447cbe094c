"""Dependencies as `Annotated` aliases: services, settings, and the API-key checks."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from sguardo.service.api.errors import ApiError
from sguardo.service.app.services import Services
from sguardo.service.core.settings import Settings

_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)
_bearer = HTTPBearer(auto_error=False)


async def get_services(request: Request) -> AsyncIterator[Services]:
    """The services with the model serving when the request began, held to its end: a hot
    reload switches new requests over and closes the old model once these are done."""
    services: Services = request.app.state.services
    with services.lease() as leased:
        yield leased


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


ServicesDep = Annotated[Services, Depends(get_services)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def _check_key(
    settings: Settings, header_key: str | None, bearer: HTTPAuthorizationCredentials | None
) -> None:
    expected = settings.api_key
    if not expected:
        return
    given = header_key or (bearer.credentials if bearer else None)
    if not given:
        raise ApiError(
            401,
            "unauthorized",
            "this endpoint needs an API key: send it as X-API-Key",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not secrets.compare_digest(given.encode(), expected.encode()):
        raise ApiError(403, "forbidden", "the API key is not valid")


def require_write_key(
    settings: SettingsDep,
    header_key: Annotated[str | None, Security(_api_key_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> None:
    _check_key(settings, header_key, bearer)


def require_read_key(
    settings: SettingsDep,
    header_key: Annotated[str | None, Security(_api_key_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> None:
    if settings.protect_reads:
        _check_key(settings, header_key, bearer)


def require_admin(
    settings: SettingsDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> None:
    """The /admin endpoints: `Authorization: Bearer $SGUARDO_ADMIN_TOKEN`; off when unset."""
    expected = settings.admin_token
    if not expected:
        raise ApiError(
            403, "admin_disabled", "the admin endpoints are off; set SGUARDO_ADMIN_TOKEN"
        )
    if bearer is None:
        raise ApiError(
            401,
            "unauthorized",
            "this endpoint needs the admin token: send `Authorization: Bearer <token>`",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not secrets.compare_digest(bearer.credentials.encode(), expected.encode()):
        raise ApiError(403, "forbidden", "the admin token is not valid")


WriteAccess = Depends(require_write_key)
AdminAccess = Depends(require_admin)
ReadAccess = Depends(require_read_key)
