"""Zero-shot image classification: candidate labels through Italian prompt templates."""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from sguardo.bundle.scoring import DEFAULT_LOGIT_SCALE, class_probabilities, mean_class_embeddings
from sguardo.service.embedding.embedder import Embedder

TEMPLATES_FILE = Path(__file__).with_name("templates_it.txt")


@cache
def default_templates() -> tuple[str, ...]:
    lines = TEMPLATES_FILE.read_text(encoding="utf-8").splitlines()
    return tuple(line.strip() for line in lines if line.strip() and not line.startswith("#"))


@dataclass(frozen=True)
class LabelScore:
    label: str
    score: float  # softmax probability over the candidates
    similarity: float  # cosine between the image and the label's mean template embedding


def _one_label_field(template: str) -> bool:
    """Exactly one replacement field, and it is a bare `{}`: `{x}`, `{1}`, `{0.a}`, `{!r}`,
    `{:>9}` or an unbalanced `{` would make str.format raise (or reach attributes)."""
    try:
        fields = [
            (name, spec, conversion)
            for _, name, spec, conversion in string.Formatter().parse(template)
            if name is not None
        ]
    except ValueError:  # "{}{", "}{}" and the like
        return False
    return fields == [("", "", None)]


def check_templates(templates: Sequence[str]) -> None:
    bad = [t for t in templates if not _one_label_field(t)]
    if bad:
        shown = ", ".join(repr(t[:60]) for t in bad[:3]) + (" …" if len(bad) > 3 else "")
        raise ValueError(
            "each template needs exactly one '{}' for the label and no other '{' or '}' "
            f"(write '{{{{' or '}}}}' for a literal brace); not: {shown}"
        )


async def classify(
    embedder: Embedder,
    image: bytes,
    labels: Sequence[str],
    templates: Sequence[str] | None = None,
    *,
    logit_scale: float = DEFAULT_LOGIT_SCALE,
) -> list[LabelScore]:
    """Labels sorted by probability: softmax of logit_scale × cosine(image, label)."""
    templates = list(templates or default_templates())
    check_templates(templates)
    prompts = [template.format(label) for label in labels for template in templates]
    image_vector = (await embedder.embed_images([image]))[0]
    prompt_vectors = await embedder.embed_texts(prompts)
    per_label = mean_class_embeddings(prompt_vectors.reshape(len(labels), len(templates), -1))
    similarity = per_label @ image_vector
    probs = class_probabilities(similarity, logit_scale)
    order = np.argsort(-probs, kind="stable")
    return [LabelScore(labels[i], float(probs[i]), float(similarity[i])) for i in order]
