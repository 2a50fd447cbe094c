"""One contract for every vector-store adapter (see conftest.py for the adapters)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from sguardo.service.store.aliased import AliasedStore, collection_name
from sguardo.service.store.base import (
    CollectionNotFoundError,
    ModelMismatchError,
    Point,
    StoreError,
)
from sguardo.service.store.ids import point_id_for_bytes

BUNDLE = "clip-it-tiny@aaaa1111"
OTHER = "clip-it-base@bbbb2222"
DIM = 3
VECTORS = {
    "east": [1.0, 0.0, 0.0],
    "north-east": [1.0, 1.0, 0.0],
    "north": [0.0, 1.0, 0.0],
    "west": [-1.0, 0.0, 0.0],
    "up": [0.0, 0.0, 2.0],
}
COLOURS = {"east": "rosso", "north-east": "verde", "north": "rosso", "west": "blu", "up": "blu"}


def pid(name: str) -> str:
    return point_id_for_bytes(name.encode())


def points() -> list[Point]:
    return [
        Point(pid(name), vector, {"name": name, "colour": COLOURS[name], "n": i})
        for i, (name, vector) in enumerate(VECTORS.items())
    ]


@pytest.fixture
def filled(store: AliasedStore) -> AliasedStore:
    store.ensure_collection("gallery", BUNDLE, DIM)
    store.upsert("gallery", points())
    return store


def names(hits: list) -> list[str]:
    return [h.payload["name"] for h in hits]


def cosine(a: list[float], b: list[float]) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_ensure_collection_creates_once(store: AliasedStore) -> None:
    first = store.ensure_collection("gallery", BUNDLE, DIM)
    assert first.alias == "gallery"
    assert first.collection == collection_name("gallery", BUNDLE)
    assert first.collection.startswith("gallery__")
    assert (first.bundle_id, first.dim, first.count) == (BUNDLE, DIM, 0)
    assert store.ensure_collection("gallery", BUNDLE, DIM) == first
    assert store.info("gallery") == first


def test_another_model_is_refused_naming_both_bundles(filled: AliasedStore) -> None:
    with pytest.raises(ModelMismatchError) as refused:
        filled.ensure_collection("gallery", OTHER, DIM)
    assert BUNDLE in str(refused.value)
    assert OTHER in str(refused.value)
    assert "reindex" in str(refused.value)
    with pytest.raises(ModelMismatchError):
        filled.ensure_collection("gallery", BUNDLE, DIM + 1)


def test_unknown_alias(store: AliasedStore) -> None:
    for call in (
        lambda: store.info("nowhere"),
        lambda: store.search("nowhere", [1.0, 0.0, 0.0]),
        lambda: store.upsert("nowhere", points()),
        lambda: store.retrieve("nowhere", [pid("east")]),
    ):
        with pytest.raises(CollectionNotFoundError, match="nowhere"):
            call()


def test_upsert_is_idempotent_by_id(filled: AliasedStore) -> None:
    assert filled.info("gallery").count == len(VECTORS)
    filled.upsert("gallery", points())
    assert filled.info("gallery").count == len(VECTORS)
    filled.upsert("gallery", [Point(pid("east"), [1.0, 0.0, 0.0], {"name": "east", "v": 2})])
    assert filled.info("gallery").count == len(VECTORS)
    assert filled.retrieve("gallery", [pid("east")])[0].payload == {"name": "east", "v": 2}


def test_search_orders_by_cosine(filled: AliasedStore) -> None:
    query = [1.0, 0.2, 0.0]
    hits = filled.search("gallery", query, top_k=10)
    expected = sorted(VECTORS, key=lambda n: -cosine(VECTORS[n], query))
    assert names(hits) == expected
    for hit in hits:
        assert hit.score == pytest.approx(cosine(VECTORS[hit.payload["name"]], query), abs=1e-5)
        assert hit.id == pid(hit.payload["name"])


def test_search_takes_numpy_and_top_k(filled: AliasedStore) -> None:
    hits = filled.search("gallery", np.array([0.0, 1.0, 0.1], dtype=np.float32), top_k=2)
    assert names(hits) == ["north", "north-east"]
    with pytest.raises(StoreError):
        filled.search("gallery", [0.0, 1.0, 0.0], top_k=0)


def test_filters(filled: AliasedStore) -> None:
    query = [1.0, 0.0, 0.0]
    assert names(filled.search("gallery", query, filters={"colour": "rosso"})) == ["east", "north"]
    by_list = filled.search("gallery", query, filters={"colour": ["verde", "blu"]})
    assert names(by_list) == ["north-east", "up", "west"]
    both = filled.search("gallery", query, filters={"colour": ["rosso", "blu"], "n": 2})
    assert names(both) == ["north"]
    assert filled.search("gallery", query, filters={"colour": "viola"}) == []
    with pytest.raises(StoreError, match="colour"):
        filled.search("gallery", query, filters={"colour": 1.5})


def test_score_threshold(filled: AliasedStore) -> None:
    hits = filled.search("gallery", [1.0, 0.0, 0.0], score_threshold=0.5)
    assert names(hits) == ["east", "north-east"]
    assert all(h.score >= 0.5 for h in hits)


def test_retrieve(filled: AliasedStore) -> None:
    asked = [pid("north"), pid("missing"), pid("east")]
    plain = filled.retrieve("gallery", asked)
    assert [p.payload["name"] for p in plain] == ["north", "east"]
    assert all(len(p.vector) == 0 for p in plain)
    with_vectors = filled.retrieve("gallery", [pid("up"), pid("north-east")], with_vectors=True)
    # Cosine collections store unit vectors.
    np.testing.assert_allclose(with_vectors[0].vector, [0.0, 0.0, 1.0], atol=1e-6)
    np.testing.assert_allclose(with_vectors[1].vector, [0.5**0.5, 0.5**0.5, 0.0], atol=1e-6)


def test_ids_accept_any_uuid_form_and_refuse_others(filled: AliasedStore) -> None:
    assert filled.retrieve("gallery", [pid("east").upper()])[0].id == pid("east")
    with pytest.raises(StoreError, match="UUID"):
        filled.retrieve("gallery", ["not-a-uuid"])


def test_wrong_dimension_is_a_store_error(filled: AliasedStore) -> None:
    with pytest.raises(StoreError):
        filled.search("gallery", [1.0, 0.0])
    with pytest.raises(StoreError):
        filled.upsert("gallery", [Point(pid("x"), [1.0, 0.0], {})])


def test_delete_counts_what_existed(filled: AliasedStore) -> None:
    assert filled.delete("gallery", [pid("east"), pid("west"), pid("missing")]) == 2
    assert filled.info("gallery").count == len(VECTORS) - 2
    assert filled.delete("gallery", [pid("east")]) == 0
    assert "east" not in names(filled.search("gallery", [1.0, 0.0, 0.0]))


def test_existing_ids(filled: AliasedStore) -> None:
    asked = [pid("east"), pid("missing"), pid("up")]
    assert filled.existing_ids("gallery", asked) == {pid("east"), pid("up")}
    assert filled.existing_ids("gallery", []) == set()


def test_swap_alias_moves_searches(filled: AliasedStore) -> None:
    old = filled.info("gallery")
    new = filled.ensure_collection("gallery-next", OTHER, DIM)
    assert new.collection != old.collection
    filled.upsert("gallery-next", [Point(pid("new"), [1.0, 0.0, 0.0], {"name": "new"})])
    filled.swap_alias("gallery", new.collection)
    assert names(filled.search("gallery", [1.0, 0.0, 0.0])) == ["new"]
    swapped = filled.info("gallery")
    assert (swapped.collection, swapped.bundle_id, swapped.count) == (new.collection, OTHER, 1)
    filled.swap_alias("gallery", old.collection)  # and back: a rollback
    assert filled.info("gallery").bundle_id == BUNDLE
    with pytest.raises(CollectionNotFoundError):
        filled.swap_alias("gallery", "gallery__000000000000")


def test_survives_close_and_reopen(
    kind: str, filled: AliasedStore, open_store: Callable[[], AliasedStore]
) -> None:
    if kind == "qdrant-memory":
        pytest.skip(":memory: keeps nothing by design; a server persists on its own")
    before = filled.info("gallery")
    filled.close()
    reopened = open_store()
    try:
        assert reopened.info("gallery") == before
        assert names(reopened.search("gallery", [1.0, 0.0, 0.0], top_k=1)) == ["east"]
        assert reopened.ensure_collection("gallery", BUNDLE, DIM) == before
    finally:
        reopened.close()


def test_payload_round_trip(filled: AliasedStore) -> None:
    payload = {
        "didascalia": "Perché la città è così bella? Caffè, più, già — «virgolette» e l’apostrofo",
        "tags": ["però", "ciò", "Ñandú"],
        "n": 7,
        "ratio": 0.25,
        "ok": True,
        "nested": {"luogo": "Lago di Como", "anno": 2024},
    }
    filled.upsert("gallery", [Point(pid("it"), [0.0, 1.0, 1.0], payload)])
    assert filled.retrieve("gallery", [pid("it")])[0].payload == payload
    hit = filled.search("gallery", [0.0, 1.0, 1.0], top_k=1)[0]
    assert hit.payload == payload
    # A list in a payload matches a filter on any of its elements, accents and all.
    assert filled.search("gallery", [0.0, 1.0, 1.0], filters={"tags": "ciò"})[0].id == pid("it")
    assert filled.search("gallery", [0.0, 1.0, 1.0], filters={"tags": "cio"}) == []


def test_optimize_keeps_results(filled: AliasedStore) -> None:
    before = filled.search("gallery", [1.0, 0.2, 0.0])
    filled.optimize("gallery")
    assert filled.search("gallery", [1.0, 0.2, 0.0]) == before


def test_healthy_until_closed(open_store: Callable[[], AliasedStore]) -> None:
    opened = open_store()
    assert opened.healthy()
    opened.close()
    assert not opened.healthy()


# --- collections for a rollout: filled by physical name, then an alias is swapped ----------
@pytest.fixture
def candidate(filled: AliasedStore) -> str:
    """A second model's collection, created and filled without any alias pointing at it."""
    created = filled.create_collection("gallery", OTHER, DIM)
    filled.upsert(created.collection, points())
    return created.collection


def test_create_collection_points_no_alias_and_is_idempotent(filled: AliasedStore) -> None:
    serving = filled.info("gallery")
    created = filled.create_collection("gallery", OTHER, DIM)
    assert created.collection == collection_name("gallery", OTHER)
    assert (created.alias, created.bundle_id, created.dim, created.count) == ("", OTHER, DIM, 0)
    assert filled.info("gallery") == serving  # the alias did not move
    assert filled.create_collection("gallery", OTHER, DIM) == created
    with pytest.raises(ModelMismatchError, match="drop"):
        filled.create_collection("gallery", OTHER, DIM + 1)
    # The serving collection itself, by its own bundle: reported with its alias.
    assert filled.create_collection("gallery", BUNDLE, DIM).alias == "gallery"
    for bad in ("", "gal__lery"):
        with pytest.raises(StoreError, match="__"):
            filled.create_collection(bad, OTHER, DIM)


def test_data_methods_take_a_physical_name(filled: AliasedStore, candidate: str) -> None:
    info = filled.info(candidate)
    assert (info.alias, info.collection, info.bundle_id, info.count) == (
        "",
        candidate,
        OTHER,
        len(VECTORS),
    )
    assert names(filled.search(candidate, [1.0, 0.2, 0.0], top_k=1)) == ["east"]
    assert [p.payload["name"] for p in filled.retrieve(candidate, [pid("up")])] == ["up"]
    assert filled.existing_ids(candidate, [pid("up"), pid("missing")]) == {pid("up")}
    assert filled.delete(candidate, [pid("up")]) == 1
    assert filled.info(candidate).count == len(VECTORS) - 1
    assert filled.info("gallery").count == len(VECTORS)  # the serving one is untouched
    filled.optimize(candidate)
    # The serving collection by its physical name reports the alias pointing at it.
    serving = filled.info("gallery")
    assert filled.info(serving.collection) == serving


def test_unknown_physical_name(filled: AliasedStore) -> None:
    missing = collection_name("gallery", "never@built")
    for call in (
        lambda: filled.info(missing),
        lambda: filled.search(missing, [1.0, 0.0, 0.0]),
        lambda: filled.upsert(missing, points()),
        lambda: filled.retrieve(missing, [pid("east")]),
        lambda: filled.existing_ids(missing, [pid("east")]),
        lambda: filled.delete(missing, [pid("east")]),
        lambda: list(filled.scroll(missing)),
        lambda: filled.drop_collection(missing),
    ):
        with pytest.raises(CollectionNotFoundError, match=missing):
            call()


def test_list_collections(filled: AliasedStore, candidate: str) -> None:
    listed = {c.collection: c for c in filled.list_collections()}
    serving = filled.info("gallery")
    assert listed == {
        serving.collection: serving,
        candidate: filled.info(candidate),
    }
    assert listed[candidate].alias == ""
    filled.swap_alias("gallery", candidate)
    after = {c.collection: c.alias for c in filled.list_collections()}
    assert after == {serving.collection: "", candidate: "gallery"}


def test_list_collections_when_empty(store: AliasedStore) -> None:
    assert store.list_collections() == []


def test_drop_collection_refuses_a_served_one(filled: AliasedStore, candidate: str) -> None:
    serving = filled.info("gallery").collection
    with pytest.raises(StoreError, match="gallery") as refused:
        filled.drop_collection(serving)
    assert "swap" in str(refused.value)
    with pytest.raises(StoreError, match="alias name"):
        filled.drop_collection("gallery")
    filled.drop_collection(candidate)
    assert [c.collection for c in filled.list_collections()] == [serving]
    with pytest.raises(CollectionNotFoundError):
        filled.info(candidate)
    assert filled.info("gallery").count == len(VECTORS)
    # Made again from scratch: empty.
    assert filled.create_collection("gallery", OTHER, DIM).count == 0


def test_scroll_returns_every_point_without_vectors(filled: AliasedStore) -> None:
    batches = list(filled.scroll("gallery", batch=2))
    assert [len(b) for b in batches] == [2, 2, 1]
    scrolled = [p for b in batches for p in b]
    assert sorted(p.payload["name"] for p in scrolled) == sorted(VECTORS)
    assert {p.id for p in scrolled} == {pid(n) for n in VECTORS}
    assert all(len(p.vector) == 0 for p in scrolled)
    assert all(p.payload["colour"] == COLOURS[p.payload["name"]] for p in scrolled)
    ids_only = [p for b in filled.scroll("gallery", with_payload=False) for p in b]
    assert {p.id for p in ids_only} == {pid(n) for n in VECTORS}
    assert all(p.payload == {} for p in ids_only)
    with pytest.raises(StoreError):
        list(filled.scroll("gallery", batch=0))


def test_scroll_of_an_empty_collection(store: AliasedStore) -> None:
    store.ensure_collection("gallery", BUNDLE, DIM)
    assert list(store.scroll("gallery")) == []


def test_swap_alias_refuses_another_dimension(filled: AliasedStore) -> None:
    wider = filled.create_collection("gallery", OTHER, DIM + 1)
    with pytest.raises(ModelMismatchError, match=r"4-d"):
        filled.swap_alias("gallery", wider.collection)
    assert filled.info("gallery").bundle_id == BUNDLE
    filled.swap_alias("wide", wider.collection)  # a new alias may point anywhere
    assert filled.info("wide").dim == DIM + 1
    with pytest.raises(StoreError, match="__"):
        filled.swap_alias("bad__alias", wider.collection)


def test_swap_then_rollback_keeps_both_collections(filled: AliasedStore, candidate: str) -> None:
    old = filled.info("gallery").collection
    filled.swap_alias("gallery", candidate)
    assert filled.info("gallery").bundle_id == OTHER
    assert filled.info(old).alias == ""
    filled.swap_alias("gallery", old)
    assert filled.info("gallery").bundle_id == BUNDLE
    assert filled.info(candidate).count == len(VECTORS)
