"""The nightly pipeline in `service` mode, promoting a candidate into a running service under load.

The service holds the embedded store, so the pipeline trains, exports, evaluates and gates on its
own, then has the service reindex and swap through the admin API, and promotes in the registry.
Eight clients search by text and by image all along: no request fails, the bundle in the answers
switches once, and every answer's scores are its own model's on its own collection.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import yaml

from sguardo.bundle.registry import Registry
from tests.service.app.test_rollout_under_load import TEXTS, Answer, load, reference
from tests.service.subprocess_server import serve_subprocess

TOKEN = "admin-secret"


def _config(root: Path, registry: Path, url: str, data: Path) -> Path:
    rows = [
        json.loads(line)
        for line in (data / "flickr8k-sample/captions_en.jsonl").read_text().splitlines()[:24]
    ]
    (root / "new.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "templates.txt").write_text("una foto di {}.\n")
    raw = {
        "registry": str(registry),
        "runs_dir": str(root / "runs"),
        "data": {
            "new": [
                {
                    "kind": "jsonl",
                    "path": str(root / "new.jsonl"),
                    "images": str(data / "flickr8k-sample"),
                }
            ]
        },
        "training": {"mode": "heads", "epochs": 2, "batch_size": 16},
        "evaluation": {
            "zeroshot": {
                "labels": str(data / "imagenet-sample-it/labels.tsv"),
                "images": str(data / "imagenet-sample-it/images"),
                "templates": str(root / "templates.txt"),
                "split": "dev",
            }
        },
        "gate": {"primary": "zeroshot_top5"},
        "store": {"mode": "service", "service_url": url, "poll_s": 0.2, "alias": "images"},
    }
    path = root / "night.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.slow
def test_a_night_in_service_mode_promotes_under_load_without_a_failed_request(
    tiny_bundle_dir: Path, tmp_path: Path, shared_data: Path
) -> None:
    registry = Registry(tmp_path / "registry")
    a, _ = registry.add(tiny_bundle_dir)
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
        config = _config(tmp_path, registry.root, url, shared_data)

        stop = threading.Event()
        answers: list[Answer] = []
        loader = threading.Thread(
            target=asyncio.run, args=(load(url, queries, images, stop, answers, 50_000),)
        )
        loader.start()
        try:
            env = {k: v for k, v in os.environ.items() if not k.startswith("SGUARDO_")}
            env["SGUARDO_ADMIN_TOKEN"] = TOKEN
            night = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "sguardo",
                    "pipeline",
                    "nightly",
                    "--config",
                    str(config),
                    "--force",
                ],  # tiny random models: the gate's verdict is not what this tests
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert night.returncode == 0, night.stdout[-3000:] + night.stderr[-3000:]
            deadline = time.monotonic() + 30
            while httpx.get(f"{url}/version", trust_env=False).json()["bundle_id"] == a_id:
                assert time.monotonic() < deadline, "the service did not switch"
                time.sleep(0.1)
            time.sleep(1.5)  # load on the new model too
        finally:
            stop.set()
            loader.join(timeout=60)
        after = reference(url, queries, images)
        version = httpx.get(f"{url}/version", trust_env=False).json()
        b_id = version["bundle_id"]

    report = json.loads(next((tmp_path / "runs").glob("*/report.json")).read_text())
    assert report["decision"] == "promoted", report
    assert Registry(registry.root).current() != a.id
    failed = [x for x in answers if x.status != 200]
    assert not failed, f"{len(failed)} of {len(answers)} requests failed: {failed[:3]}"
    assert {x.bundle_id for x in answers} == {a_id, b_id}, "the load did not span the switch"
    first_b = min(x.ended for x in answers if x.bundle_id == b_id)
    assert not [x for x in answers if x.started > first_b and x.bundle_id == a_id]
    expected = {a_id: before, b_id: after}
    for answer in answers:
        scores = expected[answer.bundle_id][answer.query]  # type: ignore[index]
        assert answer.hits.keys() == scores.keys()
        assert all(abs(answer.hits[k] - scores[k]) < 1e-3 for k in scores), answer
    print(f"{len(answers)} searches during the night, none failed")
