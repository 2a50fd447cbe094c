"""`sguardo eval zeroshot --image-list`: several photos per class, bootstrap intervals, and the
list itself built from the data's own tables."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from sguardo.cli import app
from sguardo.model.eval.metrics import bootstrap_interval
from sguardo.model.eval.zeroshot import load_image_list, zeroshot_with_intervals


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    rows = ["wnid\titalian\tsplit", "c0\tun gatto\tdev", "c1\tun cane\tdev", "c2\tuna tazza\ttrain"]
    (tmp_path / "labels.tsv").write_text("\n".join(rows) + "\n")
    (tmp_path / "t.txt").write_text("una foto di {}\n")
    (tmp_path / "more").mkdir()
    for name in ("c0.jpg", "c1.jpg", "more/c0_a.jpg", "more/c0_b.jpg", "more/c1_a.jpg"):
        Image.fromarray(np.full((20, 20, 3), 90, np.uint8)).save(tmp_path / name)
    listed = ["file\twnid", "c0.jpg\tc0", "c1.jpg\tc1", "more/c0_a.jpg\tc0"]
    (tmp_path / "list.tsv").write_text("\n".join([*listed, "more/c0_b.jpg\tc0", "gone.jpg\tc1"]))
    return tmp_path


def test_image_list_scores_every_listed_photo(photos: Path) -> None:
    data = load_image_list(photos / "labels.tsv", photos, photos / "list.tsv", split="dev")
    assert data.labels == ["un gatto", "un cane"]  # candidates: the split's classes
    assert data.targets == [0, 1, 0, 0] and len(data.images) == 4
    assert data.missing == 1


def test_image_list_rejects_a_class_outside_the_candidates(photos: Path) -> None:
    (photos / "bad.tsv").write_text("file\twnid\nc0.jpg\tc2\n")  # c2 is a train class
    with pytest.raises(ValueError, match="c2"):
        load_image_list(photos / "labels.tsv", photos, photos / "bad.tsv", split="dev")
    (photos / "cols.tsv").write_text("path\tclass\nc0.jpg\tc0\n")
    with pytest.raises(ValueError, match="columns"):
        load_image_list(photos / "labels.tsv", photos, photos / "cols.tsv", split="dev")


def test_bootstrap_interval_is_seeded_and_narrows_with_more_queries() -> None:
    rng = np.random.default_rng(1)
    small, large = rng.random(50) < 0.3, rng.random(2000) < 0.3
    assert bootstrap_interval(small, seed=3) == bootstrap_interval(small, seed=3)
    low, high = bootstrap_interval(small)
    assert low <= small.mean() <= high
    low_l, high_l = bootstrap_interval(large)
    assert high_l - low_l < (high - low) / 3  # ~ 1/sqrt(n): 40× the queries, ~1/6 the width
    assert bootstrap_interval(np.ones(10)) == (1.0, 1.0)


def test_zeroshot_intervals_bracket_the_accuracy() -> None:
    images = np.eye(4)[[0, 1, 2, 3, 0, 1]]
    report, intervals = zeroshot_with_intervals(images, np.eye(4), [0, 1, 2, 0, 0, 1], ks=(1, 5))
    assert report == {"accuracy@1": pytest.approx(5 / 6)}  # accuracy@5 > 4 classes: dropped
    low, high = intervals["accuracy@1"]
    assert low < 5 / 6 <= high


def test_cli_image_list_keeps_todays_keys_and_adds_intervals(
    photos: Path, tiny_bundle_dir: Path
) -> None:
    common = ["--labels", str(photos / "labels.tsv"), "--images", str(photos), "--split", "dev"]
    common += ["--templates", str(photos / "t.txt"), "--bundle", str(tiny_bundle_dir), "--json"]
    plain = CliRunner().invoke(app, ["eval", "zeroshot", *common])
    listed = CliRunner().invoke(
        app, ["eval", "zeroshot", *common, "--image-list", str(photos / "list.tsv")]
    )
    assert plain.exit_code == 0 and listed.exit_code == 0, plain.output + listed.output
    before, after = json.loads(plain.stdout), json.loads(listed.stdout)
    assert set(before["metrics"]) == set(after["metrics"])  # today's keys, unchanged
    assert before["metrics"]["images"] == 2 and after["metrics"]["images"] == 4
    assert set(after["ci95"]) == {"accuracy@1"}  # accuracy@5+ needs more than 2 classes
    assert after["bootstrap"] == {"resamples": 1000, "seed": 0}
    # all photos are the same grey: one class wins every photo, so 3 of 4 or 1 of 4 are right
    assert after["metrics"]["accuracy@1"] in (0.25, 0.75)


def test_cli_writes_the_imagenet_image_list(tmp_path: Path) -> None:
    sample = tmp_path / "imagenet-sample-it"
    extra = tmp_path / "imagenet-extra"
    sample.mkdir()
    extra.mkdir()
    (sample / "labels.tsv").write_text(
        "wnid\tenglish\titalian\titalian_long\tclass_id\tsplit\n"
        "n1\tcat\tun gatto\tx\t0\tdev\nn2\tdog\tun cane\tx\t1\ttrain\n"
    )
    (extra / "labels.tsv").write_text(
        "file\twnid\tsplit\nimages/n1_a_1.jpg\tn1\tdev\nimages/n2_a_1.jpg\tn2\ttrain\n"
    )
    out = tmp_path / "dev.tsv"
    result = CliRunner().invoke(
        app, ["eval", "image-list", "--data", str(tmp_path), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert out.read_text() == (
        "file\twnid\nimagenet-sample-it/images/n1.jpg\tn1\nimagenet-extra/images/n1_a_1.jpg\tn1\n"
    )
