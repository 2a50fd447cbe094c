"""How a bundle's embeddings are compared for zero-shot classification, on both sides:
clip-italian's (and CLIP's) prompt ensemble, and a softmax at the model's temperature."""

from __future__ import annotations

import numpy as np

from sguardo.bundle.manifest import Manifest

DEFAULT_LOGIT_SCALE = 100.0  # CLIP's trained temperature saturates at 100


def mean_class_embeddings(per_template: np.ndarray) -> np.ndarray:
    """(classes, templates, dim) normalised template embeddings → (classes, dim): the
    normalised mean of each class's template embeddings."""
    means = per_template.mean(axis=1)
    return means / np.linalg.norm(means, axis=1, keepdims=True).clip(min=1e-12)


def class_probabilities(similarity: np.ndarray, logit_scale: float) -> np.ndarray:
    """Softmax over the candidates of logit_scale × cosine similarity."""
    logits = logit_scale * similarity
    probs = np.exp(logits - logits.max())
    return probs / probs.sum()


def bundle_logit_scale(manifest: Manifest) -> float:
    """The temperature the model was trained at when the bundle records it, else CLIP's 100."""
    value = manifest.logit_scale
    return float(value) if value and value > 0 else DEFAULT_LOGIT_SCALE
