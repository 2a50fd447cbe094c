"""A promotion under load: a real server process, eight clients searching by text and by image
without pause, and a rollout from bundle A to bundle B through the admin API and the registry.

Zero failed requests; the bundle in the responses switches once (no request that began after
the first B answer is served by A); and every answer's scores are those of its own model on its
own collection — a query embedded by one model and searched against the other's vectors would
score differently.
"""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from sguardo.bundle.registry import Registry
from tests.service.subprocess_server import serve_subprocess

TOKEN = "admin-secret"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
CLIENTS = 8
TEXTS = ["un gatto sul divano", "una persona con un ombrello", "un piatto di pasta"]


@dataclass
class Answer:
    started: float
    ended: float
    status: int
    query: str
    bundle_id: str | None
    hits: dict[str, float]


def _search_body(query: str, images: dict[str, bytes]) -> dict:
    if query in images:
        return {"image": base64.b64encode(images[query]).decode(), "top_k": 100}
    return {"text": query, "top_k": 100}


async def load(
    url: str,
    queries: list[str],
    images: dict[str, bytes],
    stop: threading.Event,
    answers: list[Answer],
    max_requests: int,
) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30, trust_env=False) as client:

        async def worker(offset: int) -> None:
            i = offset
            while not stop.is_set() and len(answers) < max_requests:
                query = queries[i % len(queries)]
                i += 1
                started = time.monotonic()
                try:
                    response = await client.post("/search", json=_search_body(query, images))
                    status = response.status_code
                    body = response.json() if status == 200 else {}
                except httpx.HTTPError:
                    status, body = 0, {}
                answers.append(
                    Answer(
                        started,
                        time.monotonic(),
                        status,
                        query,
                        body.get("bundle_id"),
                        {h["id"]: h["score"] for h in body.get("hits", [])},
                    )
                )

        await asyncio.gather(*(worker(k) for k in range(CLIENTS)))


def reference(url: str, queries: list[str], images: dict[str, bytes]) -> dict[str, dict]:
    out = {}
    for query in queries:
        body = httpx.post(f"{url}/search", json=_search_body(query, images), trust_env=False)
        assert body.status_code == 200, body.text
        out[query] = {h["id"]: h["score"] for h in body.json()["hits"]}
    return out


def _wait(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.mark.slow
def test_promotion_under_load_fails_no_request_and_never_mixes_models(
    tiny_bundle_dir: Path, tiny_bundle_dir_b: Path, tmp_path: Path, shared_data: Path
) -> None:
    registry = Registry(tmp_path / "registry")
    a, _ = registry.add(tiny_bundle_dir)
    b, _ = registry.add(tiny_bundle_dir_b)
    registry.promote(a.id)
    photos = sorted((shared_data / "coco128" / "images" / "val2017").glob("*.jpg"))[:6]
    images = {f"image:{p.name}": p.read_bytes() for p in photos[:2]}
    queries = TEXTS + list(images)
    with serve_subprocess(
        registry.root / "current",
        tmp_path,
        registry_path=str(registry.root),
        originals_path=str(tmp_path / "originals"),
        admin_token=TOKEN,
        reload_poll_s="0.3",
        max_wait_ms="2",
    ) as served:
        url = served.url
        body = {"images": [{"image": base64.b64encode(p.read_bytes()).decode()} for p in photos]}
        assert httpx.post(f"{url}/images", json=body, trust_env=False).status_code == 200
        before = reference(url, queries, images)
        a_id = httpx.get(f"{url}/version", trust_env=False).json()["bundle_id"]

        stop = threading.Event()
        answers: list[Answer] = []
        loader = threading.Thread(
            target=asyncio.run, args=(load(url, queries, images, stop, answers, 20_000),)
        )
        loader.start()
        try:
            time.sleep(1.0)
            admin = httpx.Client(base_url=url, headers=ADMIN, timeout=60, trust_env=False)
            assert admin.post("/admin/reindex", json={"bundle": b.id}).status_code == 202
            _wait(
                lambda: admin.get("/admin/reindex").json()["state"] in ("done", "failed"),
                120,
                "the reindex",
            )
            status = admin.get("/admin/reindex").json()
            assert status["state"] == "done", status
            swapped = admin.post("/admin/swap", json={"collection": status["target"]})
            assert swapped.status_code == 200, swapped.text
            registry.promote(b.id)  # the watch (every 0.3 s) switches the service over
            _wait(lambda: admin.get("/version").json()["bundle_id"] != a_id, 30, "the switch")
            time.sleep(1.5)  # load on the new model too
        finally:
            stop.set()
            loader.join(timeout=60)
        after = reference(url, queries, images)
        b_id = httpx.get(f"{url}/version", trust_env=False).json()["bundle_id"]

    failed = [a for a in answers if a.status != 200]
    assert not failed, f"{len(failed)} of {len(answers)} requests failed: {failed[:3]}"
    assert {a.bundle_id for a in answers} == {a_id, b_id}, "the load did not span the switch"
    first_b = min(a.ended for a in answers if a.bundle_id == b_id)
    late_a = [a for a in answers if a.started > first_b and a.bundle_id == a_id]
    assert not late_a, f"{len(late_a)} requests began after the switch and got the old model"
    by_bundle = {a_id: before, b_id: after}
    for answer in answers:
        expected = by_bundle[answer.bundle_id][answer.query]  # type: ignore[index]
        assert answer.hits.keys() == expected.keys()
        assert all(abs(answer.hits[k] - expected[k]) < 1e-3 for k in expected), answer
    print(
        f"{len(answers)} searches, {sum(a.bundle_id == a_id for a in answers)} on A and "
        f"{sum(a.bundle_id == b_id for a in answers)} on B, none failed"
    )
