"""Two nights end to end on real photos and the real offline backbones, direct mode on the
embedded store (a small gallery indexed by the weak current model first):

1. the first night is killed (SIGKILL) while it reindexes the gallery, then the same command
   runs again: it resumes, nothing is embedded twice, serving was untouched until the swap,
   and the candidate (trained from the weak model's checkpoint) beats it and is promoted;
2. the second night is fed captions shuffled across images: the gate rejects its candidate
   and nothing changes (registry, alias, collections, counts).

The tests share one world and run in order (the second night starts from the first's model).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sguardo.bundle.registry import Registry
from sguardo.cli import app
from sguardo.pipeline.nightly import EXIT_CODES
from tests.pipeline.conftest import GALLERY_IMAGES, World, coco_train, flickr_manifest

pytestmark = pytest.mark.slow
KILL_AFTER = 8  # images reindexed before the kill


def serving_snapshot(world: World) -> dict:
    from sguardo.service.store.embedded import EmbeddedStore

    store = EmbeddedStore(world.store)
    try:
        return {
            "alias": store.info("images").collection,
            "collections": {c.collection: (c.bundle_id, c.count) for c in store.list_collections()},
        }
    finally:
        store.close()


def registry_snapshot(world: World) -> dict:
    registry = Registry(world.registry)
    return {
        "current": registry.current(),
        "previous": registry.previous(),
        "bundles": sorted(e.id for e in registry.entries()),
    }


def wait_for_reindex(run_dir: Path, process: subprocess.Popen, log: Path) -> int:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"the pipeline ended (rc {process.returncode}) before the kill:\n"
                f"{log.read_text()[-3000:]}"
            )
        try:
            state = json.loads((run_dir / "state.json").read_text())
        except (OSError, ValueError):
            state = {}
        done = state.get("steps", {}).get("reindex", {}).get("progress", {}).get("done", 0)
        if done >= KILL_AFTER:
            return done
        time.sleep(0.02)
    pytest.fail(f"reindexing never started:\n{log.read_text()[-3000:]}")


def test_first_night_killed_while_reindexing_resumes_and_promotes(world: World) -> None:
    config = world.config(
        "night1",
        new=[flickr_manifest(world.data, world.root / "new1.jsonl", shuffle=False)],
        existing=[coco_train(world.data)],
    )
    run_dir = world.runs / "night1"
    before = serving_snapshot(world)
    log = world.root / "night1.log"
    command = [sys.executable, "-m", "sguardo", "pipeline", "nightly", "--config", str(config)]
    command += ["--run-dir", str(run_dir)]
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_for_reindex(run_dir, process, log)
            os.kill(process.pid, signal.SIGSTOP)  # at once, then the kill itself
        finally:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()

    # Killed mid-reindex: serving untouched, the candidate's collection partly filled.
    assert registry_snapshot(world)["current"] == world.weak_id
    killed = serving_snapshot(world)
    assert killed["alias"] == before["alias"]
    partial = {k: v for k, v in killed["collections"].items() if k != before["alias"]}
    assert len(partial) == 1
    ((target, (_, partial_count)),) = partial.items()
    assert KILL_AFTER <= partial_count < GALLERY_IMAGES

    result = CliRunner().invoke(app, command[3:])
    assert result.exit_code == EXIT_CODES["promoted"], result.output
    report = json.loads((run_dir / "report.json").read_text())
    assert report["decision"] == "promoted" and report["invocations"] == 2
    reindex = report["steps"]["reindex"]
    assert reindex["attempts"] == 2
    assert reindex["output"]["already_present"] == partial_count  # resumed, not redone
    assert reindex["output"]["embedded"] == GALLERY_IMAGES - partial_count
    for step in ("collect", "train", "export", "evaluate", "gate"):
        assert report["steps"][step]["attempts"] == 1  # finished before the kill: not rerun

    candidate, current = report["metrics"]["candidate"], report["metrics"]["current"]
    assert candidate["t2i_recall_at_10"] > current["t2i_recall_at_10"]
    assert candidate["zeroshot_top5"] > current["zeroshot_top5"]
    registry = Registry(world.registry)
    assert registry.current() == report["candidate_bundle"] != world.weak_id
    assert registry.get(registry.current()).manifest.metrics == candidate
    after = serving_snapshot(world)
    assert after["alias"] == target
    assert after["collections"][target][1] == GALLERY_IMAGES


def test_second_night_on_shuffled_captions_is_rejected_and_changes_nothing(world: World) -> None:
    config = world.config(
        "night2", new=[flickr_manifest(world.data, world.root / "new2.jsonl", shuffle=True)]
    )
    registry_before, serving_before = registry_snapshot(world), serving_snapshot(world)
    assert registry_before["current"] != world.weak_id, "runs after the first night"

    result = CliRunner().invoke(
        app, ["pipeline", "nightly", "--config", str(config), "--run-dir", str(world.runs / "n2")]
    )
    assert result.exit_code == EXIT_CODES["rejected"], result.output
    report = json.loads((world.runs / "n2" / "report.json").read_text())
    assert report["decision"] == "rejected"
    assert report["gate"]["reasons"], "the report says why"
    assert "fell" in result.output or "did not improve" in result.output
    assert not any(s in report["steps"] for s in ("register", "reindex", "swap", "promote"))
    assert registry_snapshot(world) == registry_before
    assert serving_snapshot(world) == serving_before
