import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sguardo.bundle.manifest import ImagePreprocessing, TextPreprocessing
from sguardo.bundle.preprocessing import ImageDecodeError, ImagePreprocessor, TextTokenizer


def _jpeg(width: int, height: int, color=(200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="JPEG")
    return buffer.getvalue()


def test_output_shape_and_normalisation() -> None:
    params = ImagePreprocessing(resize_size=64, crop_size=56, mean=(0.5,) * 3, std=(0.5,) * 3)
    array = ImagePreprocessor(params)(_jpeg(300, 120, (255, 255, 255)))
    assert array.shape == (3, 56, 56) and array.dtype == np.float32
    assert np.allclose(array, 1.0, atol=0.02)  # white → (1 - 0.5) / 0.5


def test_shortest_side_resize_then_centre_crop_keeps_the_centre() -> None:
    image = Image.new("RGB", (400, 100), (0, 0, 0))
    image.paste((255, 255, 255), (190, 0, 210, 100))  # a narrow white band in the centre
    params = ImagePreprocessing(resize_size=50, crop_size=50, mean=(0,) * 3, std=(1,) * 3)
    array = ImagePreprocessor(params).to_array(image)
    assert array[:, :, 25].mean() > 0.95  # centre column is white
    assert array[:, :, 0].mean() < 0.05


def test_grayscale_and_rgba_become_rgb() -> None:
    params = ImagePreprocessing(resize_size=32, crop_size=32)
    for mode in ("L", "RGBA", "P"):
        buffer = io.BytesIO()
        Image.new(mode, (40, 40)).save(buffer, format="PNG")
        assert ImagePreprocessor(params)(buffer.getvalue()).shape == (3, 32, 32)


def test_large_jpeg_uses_draft_decoding() -> None:
    params = ImagePreprocessing(resize_size=64, crop_size=64)
    image = ImagePreprocessor(params).decode(_jpeg(2048, 1536))
    assert min(image.size) < 1536 and min(image.size) >= 64  # decoded at reduced scale


@pytest.mark.parametrize(
    ("data", "message"),
    [(b"definitely not an image", "not a readable image"), (_jpeg(64, 64)[:200], "corrupt")],
)
def test_bad_bytes_raise_a_clear_error(data: bytes, message: str) -> None:
    with pytest.raises(ImageDecodeError, match=message):
        ImagePreprocessor(ImagePreprocessing())(data)


def test_pixel_limit_is_checked_before_decoding() -> None:
    # A 20000x20000 PNG compresses to a few hundred KB: a decompression bomb.
    buffer = io.BytesIO()
    Image.new("1", (20000, 20000)).save(buffer, format="PNG")
    with pytest.raises(ImageDecodeError, match="400000000 pixels"):
        ImagePreprocessor(ImagePreprocessing(), max_pixels=1_000_000)(buffer.getvalue())


def test_real_photos_decode(shared_data: Path) -> None:
    pre = ImagePreprocessor(ImagePreprocessing())
    photos = sorted((shared_data / "coco128/images/val2017").glob("*.jpg"))[:5]
    batch = pre.batch([pre.decode(p.read_bytes()) for p in photos])
    assert batch.shape == (5, 3, 224, 224)
    assert np.isfinite(batch).all()


def test_tokenizer_pads_to_longest_and_truncates(tiny_text_dir: Path) -> None:
    params = TextPreprocessing(max_length=8, pad_token_id=0, pad_token="[PAD]")
    tok = TextTokenizer.from_file(tiny_text_dir / "tokenizer.json", params)
    batch = tok(["un gatto", "un gatto dorme sul divano rosso e due cani corrono sulla neve"])
    assert batch["input_ids"].shape == (2, 8)  # truncated to max_length
    assert batch["input_ids"].dtype == np.int64
    short = tok(["un gatto", "due cani"])
    assert short["input_ids"].shape[1] < 8  # padded to the longest, not to max_length
    assert short["attention_mask"].sum() == (short["input_ids"] != 0).sum()


def test_tokenizer_matches_transformers(tiny_text_dir: Path, italian_sentences: list[str]) -> None:
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(str(tiny_text_dir))
    params = TextPreprocessing(max_length=16, pad_token_id=hf.pad_token_id, pad_token=hf.pad_token)
    ours = TextTokenizer.from_file(tiny_text_dir / "tokenizer.json", params)(italian_sentences)
    theirs = hf(
        italian_sentences, padding=True, truncation=True, max_length=16, return_tensors="np"
    )
    assert np.array_equal(ours["input_ids"], theirs["input_ids"])
    assert np.array_equal(ours["attention_mask"], theirs["attention_mask"])


def test_prefix_is_prepended(tiny_text_dir: Path) -> None:
    plain = TextTokenizer.from_file(tiny_text_dir / "tokenizer.json", TextPreprocessing())
    prefixed = TextTokenizer.from_file(
        tiny_text_dir / "tokenizer.json", TextPreprocessing(prefix="cani ")
    )
    assert prefixed.count_tokens("un gatto") > plain.count_tokens("un gatto")
