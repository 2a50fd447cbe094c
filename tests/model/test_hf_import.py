from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import VisionTextDualEncoderModel

from sguardo.model.hf_import import from_vision_text_dual_encoder


def test_import_matches_the_hf_model(tiny_hf_dual_encoder_dir: Path, italian_sentences) -> None:
    hf = VisionTextDualEncoderModel.from_pretrained(str(tiny_hf_dual_encoder_dir)).eval()
    ours = from_vision_text_dual_encoder(tiny_hf_dual_encoder_dir)
    batch = ours.tokenize(italian_sentences)
    pixels = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        # transformers 5 returns the projected features as the output's pooler_output
        expected_text = F.normalize(hf.get_text_features(**batch).pooler_output, dim=-1)
        expected_image = F.normalize(
            hf.get_image_features(pixel_values=pixels).pooler_output, dim=-1
        )
        assert torch.allclose(ours.encode_text(**batch), expected_text, atol=1e-5)
        assert torch.allclose(ours.encode_image(pixels), expected_image, atol=1e-5)
    assert ours.config.embed_dim == 24
    assert ours.logit_scale.exp().item() == hf.logit_scale.exp().item()
    assert ours.image_preprocessing.crop_size == 32


def test_imported_model_saves_and_reloads(tiny_hf_dual_encoder_dir: Path, tmp_path: Path) -> None:
    from sguardo.model.dual_encoder import DualEncoder

    ours = from_vision_text_dual_encoder(tiny_hf_dual_encoder_dir)
    ours.save(tmp_path)
    again = DualEncoder.load(tmp_path)
    texts = ["una foto di un cane"]
    assert torch.allclose(again.embed_texts(texts), ours.embed_texts(texts), atol=1e-6)
