from pathlib import Path

import pytest
import torch

from sguardo.model.dual_encoder import HEADS_FILE, DualEncoder


def test_embeddings_are_normalised_and_shaped(tiny_model: DualEncoder, italian_sentences) -> None:
    text = tiny_model.embed_texts(italian_sentences[:3])
    assert text.shape == (3, 16)
    assert torch.allclose(text.norm(dim=-1), torch.ones(3), atol=1e-5)
    image = tiny_model.encode_image(torch.randn(2, 3, 32, 32))
    assert torch.allclose(image.norm(dim=-1), torch.ones(2), atol=1e-5)


def test_forward_returns_scale(tiny_model: DualEncoder, italian_sentences) -> None:
    batch = tiny_model.tokenize(italian_sentences[:2])
    _, _, scale = tiny_model(batch["input_ids"], batch["attention_mask"], torch.randn(2, 3, 32, 32))
    assert scale.item() == pytest.approx(20.0)


def test_fixed_scale_is_not_a_parameter_but_learnable_is(tiny_config) -> None:
    fixed = DualEncoder.from_config(tiny_config)
    assert "logit_scale" not in dict(fixed.named_parameters())
    learnable = DualEncoder.from_config(
        tiny_config.model_copy(update={"learnable_logit_scale": True})
    )
    assert dict(learnable.named_parameters())["logit_scale"].requires_grad


@pytest.mark.parametrize("heads_only", [False, True])
def test_save_load_round_trip(
    tiny_model: DualEncoder, tmp_path: Path, heads_only, italian_sentences
):
    tiny_model.save(tmp_path, heads_only=heads_only)
    assert (tmp_path / HEADS_FILE).stat().st_size < 10_000
    assert (tmp_path / "text").is_dir() != heads_only
    loaded = DualEncoder.load(tmp_path)
    assert torch.allclose(
        loaded.embed_texts(italian_sentences), tiny_model.embed_texts(italian_sentences)
    )
    pixels = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(
            loaded.encode_image(pixels), tiny_model.encode_image(pixels), atol=1e-6
        )


def test_load_refuses_a_directory_without_config(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"sguardo_model\.json"):
        DualEncoder.load(tmp_path)
