"""The nightly pipeline in `service` mode, promoting a candidate into a running service under load.

The service holds the embedded store, so the pipeline trains, exports, evaluates and gates on its
own, then has the service reindex and swap through the admin API, and promotes in the registry.
Eight clients search by text and by image all along: no request fails, the bundle in the answers
switches once, and every answer's scores are its own model's on its own collection.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from sguardo.bundle.registry import Registry
from tests.service.rollout_load import TOKEN, served_gallery


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
    with served_gallery(registry, tmp_path, shared_data) as gallery:
        config = _config(tmp_path, registry.root, gallery.url, shared_data)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SGUARDO_")}
        env["SGUARDO_ADMIN_TOKEN"] = TOKEN
        # --force: the tiny random models' verdict is not what this tests.
        command = [sys.executable, "-m", "sguardo", "pipeline", "nightly"]
        command += ["--config", str(config), "--force"]
        with gallery.under_load():
            night = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
            assert night.returncode == 0, night.stdout[-3000:] + night.stderr[-3000:]
            gallery.wait_for_switch()
            time.sleep(1.5)  # load on the new model too
        after = gallery.reference()
        summary = gallery.assert_clean_switch(gallery.bundle_id(), after)

    report = json.loads(next((tmp_path / "runs").glob("*/report.json")).read_text())
    assert report["decision"] == "promoted", report
    assert Registry(registry.root).current() != a.id
    print(f"during the night: {summary}")
