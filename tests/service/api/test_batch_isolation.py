"""No request can fail another: concurrent good requests with a poisoned one among them all
succeed, through the app with the real tiny bundle (issue 14, item 1)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import httpx
import numpy as np
import pytest

from sguardo.service.app.main import create_app
from sguardo.service.core.settings import Settings

from .conftest import b64

POISON = "veleno"
JSON = {"content-type": "application/json"}


async def _concurrently(app, calls: list[tuple[str, dict]]) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        # json.dumps escapes lone surrogates as \ud800 (legal JSON); httpx's json= cannot.
        return await asyncio.gather(
            *(http.post(path, content=json.dumps(body), headers=JSON) for path, body in calls)
        )


@pytest.mark.parametrize("rounds", [3])
def test_a_lone_surrogate_is_refused_before_the_queue_and_fails_no_one(
    make_settings: Callable[..., Settings], italian_sentences: list[str], rounds: int
) -> None:
    app = create_app(make_settings(max_batch_size=32, max_wait_ms=30))
    texts = italian_sentences[:8] * 3
    poisoned = [
        ("/embed", {"texts": ["\ud800"]}),
        ("/search", {"text": "gatto \udfff"}),
        ("/classify", {"image": "", "labels": ["\ud83d"]}),
    ]

    async def run() -> None:
        async with app.router.lifespan_context(app):
            embedder = app.state.services.embedder
            expected = embedder.embed_texts_unbatched(texts)
            for _ in range(rounds):
                calls = [("/embed", {"texts": [t]}) for t in texts]
                for i, bad in enumerate(poisoned):
                    calls.insert(4 + 7 * i, bad)
                responses = await _concurrently(app, calls)
                good = [
                    r
                    for (path, body), r in zip(calls, responses, strict=True)
                    if (path, body) not in poisoned
                ]
                bad = [
                    r
                    for (path, body), r in zip(calls, responses, strict=True)
                    if (path, body) in poisoned
                ]
                assert [r.status_code for r in good] == [200] * len(texts)
                got = np.asarray([r.json()["text_vectors"][0] for r in good])
                np.testing.assert_allclose(got, expected, atol=1e-5)
                for response in bad:
                    assert response.status_code == 422, response.text
                    assert "not valid Unicode" in response.json()["error"]["message"]

    asyncio.run(run())


def test_if_the_encoder_fails_one_caller_anyway_only_that_caller_gets_the_error(
    make_settings: Callable[..., Settings], italian_sentences: list[str], jpegs: list[bytes]
) -> None:
    """The second line of defence: an input no check foresaw fails its batch; the batcher
    reruns each caller alone, so the others still get exactly their unbatched vectors."""
    app = create_app(make_settings(max_batch_size=32, max_wait_ms=50))
    texts = italian_sentences[:12]

    async def run() -> None:
        async with app.router.lifespan_context(app):
            embedder = app.state.services.embedder
            expected = embedder.embed_texts_unbatched(texts)
            tokenize = embedder.tokenizer

            def refusing(batch: list[str]) -> dict[str, np.ndarray]:
                if POISON in batch:
                    raise ValueError("the tokenizer refuses this text")
                return tokenize(batch)

            embedder.tokenizer = refusing
            calls = [("/embed", {"texts": [t]}) for t in texts]
            calls.insert(6, ("/embed", {"texts": [POISON]}))
            calls.append(("/embed", {"images": [b64(jpegs[0])]}))
            responses = await _concurrently(app, calls)
            statuses = [r.status_code for r in responses]
            assert statuses[6] == 500, responses[6].text
            assert "request id" in responses[6].json()["error"]["message"]
            del responses[6]
            assert [r.status_code for r in responses] == [200] * (len(texts) + 1)
            got = np.asarray([r.json()["text_vectors"][0] for r in responses[:-1]])
            np.testing.assert_allclose(got, expected, atol=1e-5)

    asyncio.run(run())
