"""The adapters the contract suite runs against: Qdrant Edge embedded, and qdrant-client's
`:memory:` local mode standing in for a Qdrant server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sguardo.service.store.aliased import AliasedStore
from sguardo.service.store.embedded import EmbeddedStore
from sguardo.service.store.qdrant_server import QdrantServerStore

ADAPTERS = ["embedded", "qdrant-memory"]


def opener_for(kind: str, path: Path) -> Callable[[], AliasedStore]:
    if kind == "embedded":
        return lambda: EmbeddedStore(path)
    return lambda: QdrantServerStore(location=":memory:")


@pytest.fixture(params=ADAPTERS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def open_store(kind: str, tmp_path: Path) -> Callable[[], AliasedStore]:
    return opener_for(kind, tmp_path / "store")


@pytest.fixture
def store(open_store: Callable[[], AliasedStore]) -> Iterator[AliasedStore]:
    opened = open_store()
    yield opened
    opened.close()
