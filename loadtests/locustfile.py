"""Locust scenarios of real use of Sguardo, in a configurable mix.

    locust -f loadtests/locustfile.py --host http://127.0.0.1:8000
    python loadtests/run_locust.py --host http://127.0.0.1:8000 --users 8 --run-time 60s

Scenarios (request names in Locust's stats):
  /search [text]   an MSCOCO-IT caption as the query
  /search [image]  a coco128 photo as the query (base64 JSON)
  /embed [text]    one caption
  /embed [image]   one photo, as a multipart upload
  /images          indexes one photo with fresh bytes (a new id each time, so it really writes)
  /classify        a photo against 10 Italian COCO labels

Environment:
  SGUARDO_LOCUST_MIX      weights, e.g. "search_text=6,search_image=2,embed_text=3,embed_image=2,
                          index=1,classify=1" (omitted scenarios keep their default; 0 drops one)
  SGUARDO_LOCUST_API_KEY  sent as X-API-Key (POST /images needs it when SGUARDO_API_KEY is set)
  SGUARDO_LOCUST_RPS      a cap on each user's requests/s (Locust's constant_throughput);
                          unset: each user waits 0.1-0.5 s between requests
  SGUARDO_DATA_DIR        the data folder (default ../shared/data)
"""

from __future__ import annotations

import base64
import itertools
import os
import random
import sys
from collections.abc import Callable
from pathlib import Path

from locust import HttpUser, between, constant_throughput

# Locust loads this file by path; its sibling module is not on sys.path otherwise.
sys.path.insert(0, str(Path(__file__).resolve().parent))
import workload

LABELS_PER_CLASSIFY = 10


def _weighted(mix: dict[str, int], scenarios: dict[str, Callable]) -> dict[Callable, int]:
    return {scenarios[name]: weight for name, weight in mix.items() if weight > 0}


CAPTIONS = workload.captions()
PHOTOS = workload.photos()
PHOTOS_B64 = tuple(base64.b64encode(p).decode() for p in PHOTOS)  # encoded once, not per request
LABELS = workload.labels()
# Each process numbers its writes; with the pid, the appended bytes are unique across workers.
_serial = itertools.count()


class SguardoUser(HttpUser):
    """One person (or client) using the service; the scenario weights come from the environment."""

    wait_time = (
        constant_throughput(float(os.environ["SGUARDO_LOCUST_RPS"]))
        if os.environ.get("SGUARDO_LOCUST_RPS")
        else between(0.1, 0.5)
    )

    def on_start(self) -> None:
        self.rng = random.Random()
        key = os.environ.get("SGUARDO_LOCUST_API_KEY")
        if key:
            self.client.headers["X-API-Key"] = key

    def _post_json(self, path: str, name: str, body: dict, check: Callable[[dict], bool]) -> None:
        with self.client.post(path, json=body, name=name, catch_response=True) as response:
            self._judge(response, check)

    @staticmethod
    def _judge(response, check: Callable[[dict], bool]) -> None:  # type: ignore[no-untyped-def]
        # Anything but a 200 with the expected shape is a failure: the CI run asserts none.
        if response.status_code != 200:
            response.failure(f"HTTP {response.status_code}: {response.text[:200]}")
        elif not check(response.json()):
            response.failure(f"unexpected body: {response.text[:200]}")
        else:
            response.success()

    def search_text(self) -> None:
        body = {"text": self.rng.choice(CAPTIONS), "top_k": 10}
        self._post_json("/search", "/search [text]", body, lambda r: r.get("query") == "text")

    def search_image(self) -> None:
        body = {"image": self.rng.choice(PHOTOS_B64), "top_k": 10}
        self._post_json("/search", "/search [image]", body, lambda r: r.get("query") == "image")

    def embed_text(self) -> None:
        body = {"texts": [self.rng.choice(CAPTIONS)]}
        self._post_json("/embed", "/embed [text]", body, lambda r: len(r["text_vectors"]) == 1)

    def embed_image(self) -> None:
        files = [("images", ("foto.jpg", self.rng.choice(PHOTOS), "image/jpeg"))]
        with self.client.post(
            "/embed", files=files, name="/embed [image]", catch_response=True
        ) as response:
            self._judge(response, lambda r: len(r["image_vectors"]) == 1)

    def index(self) -> None:
        # Bytes after the JPEG's end marker: decoders ignore them, but the id derives from the
        # bytes, so every write is a new point rather than an idempotent no-op.
        fresh = self.rng.choice(PHOTOS) + f"locust-{os.getpid()}-{next(_serial)}".encode()
        item = {
            "image": base64.b64encode(fresh).decode(),
            "filename": "locust.jpg",
            "metadata": {"source": "locust"},
        }
        self._post_json("/images", "/images", {"images": [item]}, lambda r: r.get("created") == 1)

    def classify(self) -> None:
        body = {
            "image": self.rng.choice(PHOTOS_B64),
            "labels": self.rng.sample(LABELS, min(LABELS_PER_CLASSIFY, len(LABELS))),
        }
        self._post_json("/classify", "/classify", body, lambda r: len(r["labels"]) > 0)

    # Locust picks tasks by weight from this dict (read once, when the class is made); scenarios
    # with weight 0 are left out. A function call, not a comprehension: a comprehension in a
    # class body cannot see the methods above.
    tasks = _weighted(
        workload.parse_mix(os.environ.get("SGUARDO_LOCUST_MIX", "")),
        {
            "search_text": search_text,
            "search_image": search_image,
            "embed_text": embed_text,
            "embed_image": embed_image,
            "index": index,
            "classify": classify,
        },
    )
