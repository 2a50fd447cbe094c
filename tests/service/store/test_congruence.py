"""The same random operations on both adapters give the same answers (as qdrant-client tests
its local mode against the server)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sguardo.service.store.aliased import AliasedStore
from sguardo.service.store.base import Point
from sguardo.service.store.embedded import EmbeddedStore
from sguardo.service.store.ids import point_id_for_bytes
from sguardo.service.store.qdrant_server import QdrantServerStore

DIM = 16
COLOURS = ["rosso", "verde", "blu", "giallo"]


def random_point(rng: random.Random, key: int) -> Point:
    vector = [rng.gauss(0.0, 1.0) for _ in range(DIM)]
    payload = {"colour": rng.choice(COLOURS), "n": rng.randrange(5), "key": key}
    return Point(point_id_for_bytes(str(key).encode()), vector, payload)


def random_filters(rng: random.Random) -> dict | None:
    return rng.choice(
        [
            None,
            {"colour": rng.choice(COLOURS)},
            {"colour": rng.sample(COLOURS, 2)},
            {"n": rng.randrange(5), "colour": rng.sample(COLOURS, 3)},
            {"n": [0, 1]},
        ]
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_same_operations_same_results(tmp_path: Path, seed: int) -> None:
    stores: list[AliasedStore] = [EmbeddedStore(tmp_path), QdrantServerStore(location=":memory:")]
    rng = random.Random(seed)
    try:
        for store in stores:
            store.ensure_collection("gallery", "m@1", DIM)
        keys = list(range(300))
        for _ in range(12):
            operation = rng.choice(["upsert", "upsert", "upsert", "delete"])
            batch = rng.sample(keys, rng.randrange(1, 60))
            if operation == "upsert":
                points = [random_point(rng, k) for k in batch]
                for store in stores:
                    store.upsert("gallery", points)
            else:
                ids = [point_id_for_bytes(str(k).encode()) for k in batch]
                deleted = {store.delete("gallery", ids) for store in stores}
                assert len(deleted) == 1
        assert len({store.info("gallery").count for store in stores}) == 1

        for _ in range(40):
            query = [rng.gauss(0.0, 1.0) for _ in range(DIM)]
            kwargs: dict[str, Any] = {
                "top_k": rng.choice([1, 5, 10, 50]),
                "filters": random_filters(rng),
                "score_threshold": rng.choice([None, None, 0.0, 0.3]),
            }
            embedded, server = (store.search("gallery", query, **kwargs) for store in stores)
            assert [h.id for h in embedded] == [h.id for h in server]
            assert [h.payload for h in embedded] == [h.payload for h in server]
            np.testing.assert_allclose(
                [h.score for h in embedded], [h.score for h in server], atol=1e-5
            )

        some = [point_id_for_bytes(str(k).encode()) for k in rng.sample(keys, 50)]
        embedded_points, server_points = (
            store.retrieve("gallery", some, with_vectors=True) for store in stores
        )
        assert [p.id for p in embedded_points] == [p.id for p in server_points]
        for a, b in zip(embedded_points, server_points, strict=True):
            np.testing.assert_allclose(a.vector, b.vector, atol=1e-6)
        assert stores[0].existing_ids("gallery", some) == stores[1].existing_ids("gallery", some)
    finally:
        for store in stores:
            store.close()
