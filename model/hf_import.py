"""Import a Hugging Face `VisionTextDualEncoderModel`: the format of clip-italian/clip-italian."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoTokenizer, PreTrainedTokenizerFast, VisionTextDualEncoderModel

from sguardo.model.backbones.text import TextTower
from sguardo.model.backbones.vision import VisionTower, image_preprocessing_for
from sguardo.model.config import DualEncoderConfig
from sguardo.model.dual_encoder import DualEncoder


def from_vision_text_dual_encoder(source: str | Path, *, max_length: int = 64) -> DualEncoder:
    """Wrap the checkpoint's towers and projections unchanged.

    `VisionTextDualEncoderModel` embeds text from the text model's pooler output and images
    from the vision model's pooler output, so both towers use "pooler" pooling here.
    """
    hf = VisionTextDualEncoderModel.from_pretrained(str(source)).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(source))
    if not isinstance(tokenizer, PreTrainedTokenizerFast):
        raise ValueError(f"{source}: the checkpoint's tokenizer has no fast version")
    vision_hidden = int(hf.vision_model.config.hidden_size)
    config = DualEncoderConfig(
        text_backbone=str(source),
        text_pooling="pooler",
        text_max_length=max_length,
        vision_backbone=str(source),
        vision_pooling="pooler",
        embed_dim=int(hf.config.projection_dim),
        logit_scale=float(hf.logit_scale.detach().exp()),
        image=image_preprocessing_for(str(source)),
        model_id=Path(str(source)).name if Path(str(source)).exists() else str(source),
    )
    model = DualEncoder(
        config,
        TextTower(hf.text_model, "pooler"),
        VisionTower(hf.vision_model, "pooler", vision_hidden),
        tokenizer,
    )
    with torch.no_grad():
        model.text_projection.weight.copy_(hf.text_projection.weight)
        model.visual_projection.weight.copy_(hf.visual_projection.weight)
        model.logit_scale.copy_(hf.logit_scale.detach())
    return model.eval()
