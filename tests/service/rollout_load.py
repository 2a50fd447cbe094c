"""A rollout under load, for tests: a server process serving a registry's current bundle over a
small gallery of real photos, eight clients searching by text and by image without pause, and
the checks that a promotion failed no request and never mixed two models.

Used by the admin-API rollout (tests/service/app) and the nightly pipeline in service mode
(tests/pipeline).
"""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from sguardo.bundle.registry import Registry
from tests.service.subprocess_server import serve_subprocess

TOKEN = "admin-secret"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
CLIENTS = 8
MAX_REQUESTS = 50_000  # a bound besides time: the load stops at whichever comes first
TEXTS = ["un gatto sul divano", "una persona con un ombrello", "un piatto di pasta"]


@dataclass
class Answer:
    started: float
    ended: float
    status: int
    query: str
    bundle_id: str | None
    hits: dict[str, float]


@dataclass
class Gallery:
    """A service on the registry's current bundle, six coco128 photos indexed."""

    url: str
    registry: Registry
    queries: list[str]
    images: dict[str, bytes]
    a_id: str  # the bundle serving at the start
    before: dict[str, dict[str, float]]  # each query's scores before the rollout
    answers: list[Answer] = field(default_factory=list)

    def body(self, query: str) -> dict:
        if query in self.images:
            return {"image": base64.b64encode(self.images[query]).decode(), "top_k": 100}
        return {"text": query, "top_k": 100}

    def reference(self) -> dict[str, dict[str, float]]:
        out = {}
        for query in self.queries:
            response = httpx.post(f"{self.url}/search", json=self.body(query), trust_env=False)
            assert response.status_code == 200, response.text
            out[query] = {h["id"]: h["score"] for h in response.json()["hits"]}
        return out

    def bundle_id(self) -> str:
        return str(httpx.get(f"{self.url}/version", trust_env=False).json()["bundle_id"])

    @contextmanager
    def under_load(self) -> Iterator[None]:
        """Eight clients search until the block ends (bounded by MAX_REQUESTS too)."""
        stop = threading.Event()
        loader = threading.Thread(target=asyncio.run, args=(self._load(stop),))
        loader.start()
        try:
            yield
        finally:
            stop.set()
            loader.join(timeout=60)

    async def _load(self, stop: threading.Event) -> None:
        async with httpx.AsyncClient(base_url=self.url, timeout=30, trust_env=False) as client:

            async def worker(offset: int) -> None:
                i = offset
                while not stop.is_set() and len(self.answers) < MAX_REQUESTS:
                    query = self.queries[i % len(self.queries)]
                    i += 1
                    started = time.monotonic()
                    try:
                        response = await client.post("/search", json=self.body(query))
                        status = response.status_code
                        body = response.json() if status == 200 else {}
                    except httpx.HTTPError:
                        status, body = 0, {}
                    hits = {h["id"]: h["score"] for h in body.get("hits", [])}
                    self.answers.append(
                        Answer(
                            started, time.monotonic(), status, query, body.get("bundle_id"), hits
                        )
                    )

            await asyncio.gather(*(worker(k) for k in range(CLIENTS)))

    def wait_for_switch(self, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while self.bundle_id() == self.a_id:
            assert time.monotonic() < deadline, "the service did not switch"
            time.sleep(0.1)

    def assert_clean_switch(self, b_id: str, after: dict[str, dict[str, float]]) -> str:
        """No request failed; the answers' bundle switched once (no request that began after
        the first answer of B got A); every answer's scores are its own model's on its own
        collection (a query searched against the other model's vectors scores differently)."""
        answers, a_id = self.answers, self.a_id
        failed = [x for x in answers if x.status != 200]
        assert not failed, f"{len(failed)} of {len(answers)} requests failed: {failed[:3]}"
        assert {x.bundle_id for x in answers} == {a_id, b_id}, "the load did not span the switch"
        first_b = min(x.ended for x in answers if x.bundle_id == b_id)
        late = [x for x in answers if x.started > first_b and x.bundle_id == a_id]
        assert not late, f"{len(late)} requests began after the switch and got the old model"
        by_bundle = {a_id: self.before, b_id: after}
        for answer in answers:
            expected = by_bundle[answer.bundle_id][answer.query]  # type: ignore[index]
            assert answer.hits.keys() == expected.keys()
            assert all(abs(answer.hits[k] - expected[k]) < 1e-3 for k in expected), answer
        on_a = sum(x.bundle_id == a_id for x in answers)
        return f"{len(answers)} searches, {on_a} on A and {len(answers) - on_a} on B, none failed"


@contextmanager
def served_gallery(registry: Registry, workdir: Path, shared_data: Path) -> Iterator[Gallery]:
    photos = sorted((shared_data / "coco128" / "images" / "val2017").glob("*.jpg"))[:6]
    images = {f"image:{p.name}": p.read_bytes() for p in photos[:2]}
    with serve_subprocess(
        registry.root / "current",
        workdir,
        registry_path=str(registry.root),
        originals_path=str(workdir / "originals"),
        admin_token=TOKEN,
        reload_poll_s="0.3",  # the watch, not the test, switches the service over
        max_wait_ms="2",
    ) as served:
        url = served.url
        body = {"images": [{"image": base64.b64encode(p.read_bytes()).decode()} for p in photos]}
        assert httpx.post(f"{url}/images", json=body, trust_env=False).status_code == 200
        gallery = Gallery(url, registry, TEXTS + list(images), images, "", {})
        gallery.a_id = gallery.bundle_id()
        gallery.before = gallery.reference()
        yield gallery
