"""Step 5: measure the candidate and the current bundle on the same fixed sets, through ONNX
Runtime (what the service runs), with `model.eval`'s protocol.

Metric names are the ones the gate and the Pushgateway use: `zeroshot_top1`,
`t2i_recall_at_10`, `i2t_mrr_at_5`, ... (fractions in [0, 1]).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sguardo.model.data.readers import read_templates
from sguardo.model.eval.embedders import OnnxEmbedder
from sguardo.model.eval.retrieval import RetrievalSet, evaluate_retrieval, retrieval_set
from sguardo.model.eval.zeroshot import ZeroShotSet, evaluate_zeroshot, load_labelled_images
from sguardo.model.train.sources import read_source
from sguardo.pipeline.config import EvaluationConfig

DIRECTIONS = {"text_to_image": "t2i", "image_to_text": "i2t"}


@dataclass
class EvaluationSets:
    zeroshot: ZeroShotSet | None
    templates: list[str]
    retrieval: RetrievalSet | None

    def describe(self) -> dict[str, int]:
        out: dict[str, int] = {}
        if self.zeroshot is not None:
            out |= {
                "zeroshot_classes": len(self.zeroshot.labels),
                "zeroshot_images": len(self.zeroshot.images),
                "zeroshot_templates": len(self.templates),
            }
        if self.retrieval is not None:
            out |= {
                "retrieval_images": len(self.retrieval.images),
                "retrieval_captions": len(self.retrieval.captions),
            }
        return out


def load_sets(config: EvaluationConfig) -> EvaluationSets:
    zeroshot, templates, retrieval = None, [], None
    if config.zeroshot is not None:
        z = config.zeroshot
        templates = read_templates(z.templates)[: z.max_templates]
        zeroshot = load_labelled_images(
            z.labels,
            z.images,
            split=z.split,
            id_column=z.id_column,
            label_column=z.label_column,
            split_column=z.split_column,
        )
        if not zeroshot.images:
            raise ValueError(f"zero-shot set: no images found under {z.images}")
    if config.retrieval is not None:
        records = read_source(config.retrieval)
        if config.captions_per_image is not None:
            records = [r.with_captions(r.captions[: config.captions_per_image]) for r in records]
        retrieval = retrieval_set(records)
        if not retrieval.images:
            raise ValueError(f"retrieval set: no readable images for {config.retrieval.path}")
    return EvaluationSets(zeroshot, templates, retrieval)


def gate_name(raw: str) -> str | None:
    """`accuracy@1` → `zeroshot_top1`; `text_to_image/recall@10` → `t2i_recall_at_10`;
    counts (images, captions, classes) → None."""
    if raw.startswith("accuracy@"):
        return f"zeroshot_top{raw.removeprefix('accuracy@')}"
    direction, _, measure = raw.partition("/")
    if direction in DIRECTIONS and "@" in measure:
        name, _, k = measure.partition("@")
        return f"{DIRECTIONS[direction]}_{name}_at_{k}"
    return None


def evaluate_bundle(bundle_dir: Path, sets: EvaluationSets, precision: str = "fp32") -> dict:
    embedder = OnnxEmbedder.load(bundle_dir, precision)  # type: ignore[arg-type]
    raw: dict[str, float] = {}
    if sets.zeroshot is not None:
        raw |= evaluate_zeroshot(embedder, sets.zeroshot, sets.templates, ks=(1, 5, 10))
    if sets.retrieval is not None:
        raw |= evaluate_retrieval(embedder, sets.retrieval)
    return {
        name: round(float(value), 6)
        for key, value in raw.items()
        if (name := gate_name(key)) is not None
    }


def stamp_metrics(bundle_dir: Path, metrics: dict[str, float]) -> None:
    """Write the measured metrics into the candidate's bundle.json before it enters the
    registry. `metrics` is not part of the content hash (that covers the files)."""
    import os

    from sguardo.bundle.manifest import MANIFEST_NAME, read_manifest

    manifest = read_manifest(bundle_dir, verify_hashes=False)
    updated = manifest.model_copy(update={"metrics": dict(metrics)})
    temp = bundle_dir / f".{MANIFEST_NAME}.tmp"
    temp.write_text(updated.model_dump_json(indent=2) + "\n")
    os.replace(temp, bundle_dir / MANIFEST_NAME)
