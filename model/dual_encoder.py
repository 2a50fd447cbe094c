"""The dual encoder: text tower + vision tower + linear projections into one space."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer
from torch import nn
from transformers import PreTrainedTokenizerFast

from sguardo.bundle.manifest import ImagePreprocessing, TextPreprocessing
from sguardo.bundle.preprocessing import ImagePreprocessor, TextTokenizer
from sguardo.model.backbones.text import TextTower, load_text_tower
from sguardo.model.backbones.vision import VisionTower, image_preprocessing_for, load_vision_tower
from sguardo.model.config import DualEncoderConfig

CONFIG_FILE = "sguardo_model.json"
HEADS_FILE = "heads.safetensors"
HEAD_PREFIXES = ("text_projection.", "visual_projection.", "logit_scale")


class DualEncoder(nn.Module):
    def __init__(
        self,
        config: DualEncoderConfig,
        text_tower: TextTower,
        vision_tower: VisionTower,
        tokenizer: PreTrainedTokenizerFast,
    ):
        super().__init__()
        self.config = config
        self.text_tower = text_tower
        self.vision_tower = vision_tower
        self.hf_tokenizer = tokenizer
        self.text_projection = nn.Linear(text_tower.hidden_size, config.embed_dim, bias=False)
        self.visual_projection = nn.Linear(vision_tower.hidden_size, config.embed_dim, bias=False)
        log_scale = torch.tensor(math.log(config.logit_scale))
        if config.learnable_logit_scale:
            self.logit_scale = nn.Parameter(log_scale)
        else:
            self.register_buffer("logit_scale", log_scale)
        self.text_preprocessing = TextPreprocessing(
            max_length=config.text_max_length,
            prefix=config.text_prefix,
            pad_token_id=int(tokenizer.pad_token_id or 0),
            pad_token=str(tokenizer.pad_token or "[PAD]"),
        )
        self.image_preprocessing: ImagePreprocessing = config.image or image_preprocessing_for(
            config.vision_backbone
        )
        # The same torch-free tokeniser and image pipeline the bundle and the service use.
        self.tokenizer = TextTokenizer(
            Tokenizer.from_str(tokenizer.backend_tokenizer.to_str()), self.text_preprocessing
        )
        self.image_preprocessor = ImagePreprocessor(self.image_preprocessing)

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def from_config(cls, config: DualEncoderConfig, *, pretrained: bool = True) -> DualEncoder:
        text_tower, tokenizer = load_text_tower(
            config.text_backbone, config.text_pooling, pretrained=pretrained
        )
        vision_tower = load_vision_tower(
            config.vision_backbone, config.vision_pooling, pretrained=pretrained
        )
        return cls(config, text_tower, vision_tower, tokenizer)

    # -- encoding -----------------------------------------------------------------------------

    def encode_text(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, normalize: bool = True
    ) -> torch.Tensor:
        features = self.text_projection(self.text_tower(input_ids, attention_mask))
        return F.normalize(features, dim=-1) if normalize else features

    def encode_image(self, pixel_values: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        features = self.visual_projection(self.vision_tower(pixel_values))
        return F.normalize(features, dim=-1) if normalize else features

    def encode_image_dense(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(batch, rows, cols, embed_dim): the projection of each location's features, not
        normalised. The head is linear and the pooling a mean, so their mean over rows × cols
        is `encode_image(normalize=False)`: a phrase's dot product with each location splits
        the image's score among the places that make it (a class activation map)."""
        return self.visual_projection(self.vision_tower.forward_dense(pixel_values))

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, pixel_values: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(image embeddings, text embeddings, logit scale), embeddings L2-normalised."""
        return (
            self.encode_image(pixel_values),
            self.encode_text(input_ids, attention_mask),
            self.logit_scale.exp(),
        )

    def tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        return {k: torch.from_numpy(v) for k, v in self.tokenizer(texts).items()}

    @torch.no_grad()
    def embed_texts(self, texts: list[str]) -> torch.Tensor:
        batch = self.tokenize(texts)
        return self.encode_text(batch["input_ids"], batch["attention_mask"])

    @torch.no_grad()
    def embed_images(self, images: list[bytes]) -> torch.Tensor:
        pixels = torch.from_numpy(
            self.image_preprocessor.batch([self.image_preprocessor.decode(b) for b in images])
        )
        return self.encode_image(pixels)

    # -- persistence --------------------------------------------------------------------------

    def save(self, directory: str | Path, *, heads_only: bool = False) -> Path:
        """Write config + projection heads; with `heads_only=False` also both backbones, so the
        directory loads with no hub access. Heads alone are a few hundred KB."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        config = self.config.model_copy(update={"image": self.image_preprocessing})
        (directory / CONFIG_FILE).write_text(config.model_dump_json(indent=2) + "\n")
        state = self.state_dict()
        heads = {k: v.contiguous() for k, v in state.items() if k.startswith(HEAD_PREFIXES)}
        save_file(heads, str(directory / HEADS_FILE))
        if not heads_only:
            self.text_tower.save(directory / "text")
            self.hf_tokenizer.save_pretrained(directory / "text")
            self.vision_tower.save(directory / "vision")
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> DualEncoder:
        directory = Path(directory)
        config_file = directory / CONFIG_FILE
        if not config_file.is_file():
            raise FileNotFoundError(
                f"{directory} is not a saved dual encoder ({CONFIG_FILE} missing)"
            )
        config = DualEncoderConfig.model_validate(json.loads(config_file.read_text()))
        overrides: dict[str, str] = {}
        for tower, key in (("text", "text_backbone"), ("vision", "vision_backbone")):
            if (directory / tower).is_dir():
                overrides[key] = str(directory / tower)
        model = cls.from_config(config.model_copy(update=overrides))
        model.config = config
        missing, unexpected = model.load_state_dict(
            load_file(str(directory / HEADS_FILE)), strict=False
        )
        if unexpected or any(k.startswith(HEAD_PREFIXES) for k in missing):
            raise ValueError(f"{directory}: heads do not fit this architecture: {unexpected}")
        return model.eval()

    def tower_module(self, tower: Literal["text", "vision"]) -> nn.Module:
        """One tower as a module whose output is the L2-normalised embedding (for export)."""
        return _TextEmbedder(self) if tower == "text" else _ImageEmbedder(self)

    def dense_module(self) -> nn.Module:
        """The vision tower as a module whose output is `encode_image_dense` (for export)."""
        return _ImageEmbedder(self, dense=True)


class _TextEmbedder(nn.Module):
    def __init__(self, model: DualEncoder):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model.encode_text(input_ids, attention_mask)


class _ImageEmbedder(nn.Module):
    """`encode_image`, or with `dense` `encode_image_dense` (a Python flag: the exporter traces
    one branch)."""

    def __init__(self, model: DualEncoder, *, dense: bool = False):
        super().__init__()
        self.model = model
        self.dense = dense

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        if self.dense:
            return self.model.encode_image_dense(pixel_values)
        return self.model.encode_image(pixel_values)
