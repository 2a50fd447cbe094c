"""The offline benchmark end to end on the tiny model and a miniature of the shared data:
every source trains, nothing evaluated is trained on, and the cache makes a rerun cheap."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sguardo.model.benchmarks.offline import OfflineOptions, run_offline_benchmark
from sguardo.model.benchmarks.sets import SOURCES
from sguardo.model.train.heads import HeadTrainingConfig
from sguardo.model.train.pointing import PointingConfig
from tests.model.benchmarks.miniature import write_miniature_data


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_miniature_data(tmp_path_factory.mktemp("shared-data"))


def _options(data: Path, tiny_config, cache: Path, **overrides) -> OfflineOptions:
    heads = HeadTrainingConfig(epochs=2, batch_size=4, warmup_steps=1, class_positives=True)
    fields = dict(
        data_dir=data,
        embed_dim=16,
        views=2,
        train_templates=2,
        heads=heads,
        cache_dir=cache,
        flickr_holdout=3,
        resamples=50,
        model_config=tiny_config,
        pointing=None,
    )
    return OfflineOptions(**(fields | overrides))  # type: ignore[arg-type]


def test_benchmark_trains_on_every_source_and_reports_dev_and_flickr(
    data: Path, tiny_config, tiny_model, tmp_path: Path
) -> None:
    current = tmp_path / "current"
    tiny_model.save(current, heads_only=True)
    options = _options(data, tiny_config, tmp_path / "cache", ablations=True, current_heads=current)
    result = run_offline_benchmark(options, demo_dir=tmp_path / "demo")
    sources = result.training["sources"]
    # imagenet: 4 sample-it + 3 extra train photos (dev never); flickr: 10 - 3 held out
    assert sources == {
        "imagenet": {"images": 7},
        "caltech": {"images": 6},
        "flickr8k": {"images": 7},
        "coco-captions": {"images": 4},
        "coco-labels": {"images": 6},
    }
    assert result.after["dev/accuracy@1"] >= 0 and "dev_all/accuracy@5" not in result.after
    assert set(result.after) == set(result.before) == set(result.current or {})
    assert "flickr/text_to_image/recall@5" in result.after
    assert "flickr/image_to_text/recall@5" in result.after
    low, high = result.intervals["after"]["dev_all/accuracy@1"]
    assert low <= result.after["dev_all/accuracy@1"] <= high
    assert set(result.ablations) == {f"-{s}" for s in SOURCES}
    record = json.loads((tmp_path / "demo" / "training.json").read_text())
    assert record["metrics"] == pytest.approx(result.after)
    # A rerun reads every feature from the cache: no backbone graph is exported again.
    cached = sorted(p.name for p in (tmp_path / "cache").rglob("*.npy"))
    again = run_offline_benchmark(options)
    assert again.after == pytest.approx(result.after)
    assert sorted(p.name for p in (tmp_path / "cache").rglob("*.npy")) == cached


def test_holdout_classes_leave_training_and_replace_dev(
    data: Path, tiny_config, tmp_path: Path
) -> None:
    options = _options(data, tiny_config, tmp_path / "cache", holdout_classes=2)
    result = run_offline_benchmark(options)
    assert "holdout/accuracy@1" in result.after and "holdout_all/accuracy@1" in result.after
    assert not any(k.startswith("dev") for k in result.after)
    # 2 of the 5 train classes held out: their photos leave the imagenet source
    assert result.training["sources"]["imagenet"]["images"] < 7  # type: ignore[index]


def test_the_pointing_stage_fine_tunes_the_visual_head_on_coco_boxes(
    data: Path, tiny_cnn_config, tmp_path: Path
) -> None:
    # short side 64: the miniature's 36 × 44 photos give 2 × 3 maps, one location in each box
    pointing = PointingConfig(steps=3, maps_per_step=2, sides=(64,))
    options = _options(
        data,
        tiny_cnn_config,
        tmp_path / "cache",
        pointing=pointing,
        pointing_holdout=2,
        ablations=True,
        sources=("coco-labels", "flickr8k"),
    )
    result = run_offline_benchmark(options, demo_dir=tmp_path / "demo")
    assert result.contrastive is not None and set(result.contrastive) == set(result.after)
    for metrics in (result.before, result.after, *result.ablations.values()):
        assert 0 <= metrics["coco_pointing/accuracy"] <= 1
        assert 0 <= metrics["pointing_holdout/accuracy"] <= 1
    stage = result.training["pointing"]
    # 6 train2017 photos less 2 held out, each seen plain and mirrored
    assert stage["photos"] == 4 and stage["maps"] == 8  # type: ignore[index]
    record = json.loads((tmp_path / "demo" / "training.json").read_text())
    assert record["training"]["pointing"]["steps"] == 3


def test_the_pointing_stage_needs_a_dense_vision_tower(
    data: Path, tiny_config, tmp_path: Path
) -> None:
    options = _options(data, tiny_config, tmp_path / "cache", pointing=PointingConfig(steps=1))
    with pytest.raises(ValueError, match="CNN vision tower"):
        run_offline_benchmark(options)
