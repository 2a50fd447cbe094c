"""What is particular to each adapter: the embedded store's single-process lock, a server
that is down, and the factory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sguardo.service.store.aliased import collection_name
from sguardo.service.store.base import StoreError, StoreUnavailableError
from sguardo.service.store.embedded import EmbeddedStore
from sguardo.service.store.factory import open_store
from sguardo.service.store.qdrant_server import QdrantServerStore


def test_embedded_store_is_single_process(tmp_path: Path) -> None:
    first = EmbeddedStore(tmp_path)
    with pytest.raises(StoreError, match="already open"):
        EmbeddedStore(tmp_path)
    first.close()
    EmbeddedStore(tmp_path).close()  # the lock goes with close()


@pytest.mark.parametrize("prefer_grpc", [False, True])
def test_server_down_is_unavailable(prefer_grpc: bool) -> None:
    # Port 1 on localhost: nothing listens, the connection is refused at once.
    store = QdrantServerStore("http://127.0.0.1:1", prefer_grpc=prefer_grpc, timeout=2)
    try:
        assert not store.healthy()
        with pytest.raises(StoreUnavailableError, match=r"127\.0\.0\.1:1"):
            store.info("gallery")
        with pytest.raises(StoreUnavailableError):
            store.search("gallery", [1.0, 0.0])
    finally:
        store.close()


def test_factory(tmp_path: Path) -> None:
    embedded = open_store("embedded", path=tmp_path / "store")
    assert isinstance(embedded, EmbeddedStore)
    embedded.close()
    server = open_store("qdrant", path=None, url="http://127.0.0.1:1", api_key=None)
    assert isinstance(server, QdrantServerStore)
    server.close()
    with pytest.raises(StoreError, match="SGUARDO_QDRANT_URL"):
        open_store("qdrant", path=None, url=None, api_key=None)
    with pytest.raises(StoreError, match="SGUARDO_STORE_PATH"):
        open_store("embedded", path=None, url=None, api_key=None)


def test_embedded_recovers_from_a_crash_while_creating(tmp_path: Path) -> None:
    # A shard folder without its bundle record: the process died between the two.
    (tmp_path / "collections" / collection_name("gallery", "m@1") / "shard" / "segments").mkdir(
        parents=True
    )
    store = EmbeddedStore(tmp_path)
    try:
        assert store.ensure_collection("gallery", "m@1", 4).count == 0
    finally:
        store.close()


def test_embedded_swap_survives_reopen_and_a_crash_mid_write(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path)
    old = store.ensure_collection("gallery", "m@1", 4).collection
    new = store.create_collection("gallery", "m@2", 4).collection
    dropped = store.create_collection("gallery", "m@3", 4).collection
    store.swap_alias("gallery", new)
    store.drop_collection(dropped)
    store.close()
    assert not (tmp_path / "collections" / dropped).exists()
    # A crash while writing the next swap: the new file written, never renamed into place.
    (tmp_path / "aliases.tmp").write_text('{"gallery": "' + old + '"}')
    reopened = EmbeddedStore(tmp_path)
    try:
        assert reopened.info("gallery").collection == new
        assert {c.collection for c in reopened.list_collections()} == {old, new}
        reopened.swap_alias("gallery", old)  # the leftover is simply overwritten
        assert reopened.info("gallery").collection == old
    finally:
        reopened.close()


def test_embedded_drop_interrupted_after_its_record(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path)
    store.ensure_collection("gallery", "m@1", 4)
    name = store.create_collection("gallery", "m@2", 4).collection
    store.close()
    (tmp_path / "collections" / name / "sguardo.json").unlink()  # the crash: folder left
    reopened = EmbeddedStore(tmp_path)
    try:
        assert [c.bundle_id for c in reopened.list_collections()] == ["m@1"]
        assert reopened.create_collection("gallery", "m@2", 4).count == 0
    finally:
        reopened.close()


def test_server_swap_is_one_request(monkeypatch: pytest.MonkeyPatch) -> None:
    store = QdrantServerStore(location=":memory:")
    try:
        old = store.ensure_collection("gallery", "m@1", 4).collection
        new = store.create_collection("gallery", "m@2", 4).collection
        calls: list[list[Any]] = []
        update = store.client.update_collection_aliases

        def recording(*, change_aliases_operations: list[Any]) -> bool:
            calls.append(change_aliases_operations)
            return update(change_aliases_operations=change_aliases_operations)

        monkeypatch.setattr(store.client, "update_collection_aliases", recording)
        store.swap_alias("gallery", new)
        assert len(calls) == 1
        kinds = [type(op).__name__ for op in calls[0]]
        assert kinds == ["DeleteAliasOperation", "CreateAliasOperation"]
        assert store.info("gallery").collection == new
        assert store.info(old).alias == ""
    finally:
        store.close()
