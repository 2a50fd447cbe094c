"""A promotion under load through the admin API: a real server process, eight clients
searching by text and by image without pause, and a rollout from bundle A to bundle B
(reindex → swap through the admin API, promote in the registry, the watch switches).

Zero failed requests; the bundle in the answers switches once; every answer's scores are its
own model's on its own collection (see tests/service/rollout_load.py).
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from sguardo.bundle.registry import Registry
from tests.service.rollout_load import ADMIN, served_gallery


@pytest.mark.slow
def test_promotion_under_load_fails_no_request_and_never_mixes_models(
    tiny_bundle_dir: Path, tiny_bundle_dir_b: Path, tmp_path: Path, shared_data: Path
) -> None:
    registry = Registry(tmp_path / "registry")
    a, _ = registry.add(tiny_bundle_dir)
    b, _ = registry.add(tiny_bundle_dir_b)
    registry.promote(a.id)
    with served_gallery(registry, tmp_path, shared_data) as gallery:
        admin = httpx.Client(base_url=gallery.url, headers=ADMIN, timeout=60, trust_env=False)
        with gallery.under_load():
            time.sleep(1.0)
            assert admin.post("/admin/reindex", json={"bundle": b.id}).status_code == 202
            deadline = time.monotonic() + 120
            while (status := admin.get("/admin/reindex").json())["state"] == "running":
                assert time.monotonic() < deadline, "the reindex did not finish"
                time.sleep(0.1)
            assert status["state"] == "done", status
            swapped = admin.post("/admin/swap", json={"collection": status["target"]})
            assert swapped.status_code == 200, swapped.text
            registry.promote(b.id)
            gallery.wait_for_switch()
            time.sleep(1.5)  # load on the new model too
        after = gallery.reference()
        print(gallery.assert_clean_switch(gallery.bundle_id(), after))
