"""An app on the tiny bundle and a fresh embedded store per test, driven through httpx."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sguardo.service.app.main import create_app
from sguardo.service.core.settings import Settings

MakeClient = Callable[..., TestClient]


@pytest.fixture
def make_settings(tiny_bundle_dir: Path, tmp_path: Path) -> Callable[..., Settings]:
    def make(**overrides: object) -> Settings:
        values: dict[str, object] = {
            "bundle_path": tiny_bundle_dir,
            "store_kind": "embedded",
            "store_path": tmp_path / "store",
            "originals_path": tmp_path / "originals",
            "demo_gallery": False,
            "max_wait_ms": 2,
            "intra_op_threads": 1,
            "log_level": "WARNING",
        }
        values.update(overrides)
        return Settings(**values)  # type: ignore[arg-type]

    return make


@pytest.fixture
def make_client(make_settings: Callable[..., Settings]) -> Iterator[MakeClient]:
    """`make_client(api_key=..., ...)` → a started TestClient (httpx), closed after the test."""
    clients: list[TestClient] = []

    def make(**overrides: object) -> TestClient:
        client = TestClient(create_app(make_settings(**overrides)))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: MakeClient) -> TestClient:
    return make_client()


@pytest.fixture(scope="session")
def jpegs(shared_data: Path) -> list[bytes]:
    """Eight real photos: ImageNet-sample and COCO."""
    paths = sorted((shared_data / "imagenet-sample-it" / "images").glob("*.jpg"))[:4]
    paths += sorted((shared_data / "coco128" / "images").glob("*/*.jpg"))[:4]
    assert len(paths) == 8
    return [p.read_bytes() for p in paths]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def assert_error(response, status: int, code: str, contains: str = "") -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code, error
    assert contains.lower() in error["message"].lower(), error
