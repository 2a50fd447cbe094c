"""Bulk indexing through a running service's `POST /images` (`sguardo index --url`).

The same pipeline as in-process indexing, with the service doing the decoding, embedding and
storing: useful while `sguardo serve` holds the embedded store, or to index from another host.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

import httpx

from sguardo.bundle.preprocessing import ImageDecodeError
from sguardo.service.indexing.indexer import ImageInput, IndexedImage

MAX_ATTEMPTS = 5  # for 503 (queue full, store briefly down): the service says when to retry


class RemoteIndexError(RuntimeError):
    """The service refused a batch for a reason retrying will not fix; the message says why."""


def _error(response: httpx.Response) -> tuple[str, str]:
    try:
        error = response.json()["error"]
        return str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        return "http_error", f"{response.status_code} {response.reason_phrase}"


class RemoteIndexer:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def index(self, items: Sequence[ImageInput]) -> list[IndexedImage]:
        files = [
            ("images", (item.filename, item.data, "application/octet-stream")) for item in items
        ]
        form = {"metadata": json.dumps([dict(item.metadata) for item in items])}
        for attempt in range(1, MAX_ATTEMPTS + 1):
            response = await self.client.post("/images", files=files, data=form)
            if response.status_code != 503 or attempt == MAX_ATTEMPTS:
                break
            await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
        if response.is_success:
            body: dict[str, Any] = response.json()
            return [
                IndexedImage(image["id"], image["filename"], bool(image["created"]))
                for image in body["images"]
            ]
        code, message = _error(response)
        if code == "invalid_image":
            raise ImageDecodeError(message)
        raise RemoteIndexError(f"{self.client.base_url} answered {response.status_code}: {message}")


def remote_client(url: str, api_key: str | None, timeout_s: float = 120.0) -> httpx.AsyncClient:
    headers = {"X-API-Key": api_key} if api_key else {}
    return httpx.AsyncClient(base_url=url.rstrip("/"), headers=headers, timeout=timeout_s)
