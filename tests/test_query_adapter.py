"""The query adapter: shipped with the reader's weights, loaded for the default model only, and used by the
retriever for a question against passages in the other language, never against its own."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from qa import Retriever, build_index
from qa.embedding.adapter import ADAPTER_ENV, DIMENSION, QueryAdapter, adapter_tensor, load_query_adapter
from qa.embedding.default_model import DEFAULT_MODEL
from qa.errors import ModelNotAvailableError
from qa.retrieval.retriever import bridged
from qa.store.base import Candidates
from qa.trained import TRAINED_WEIGHTS

ROOT = Path(__file__).resolve().parent.parent
TRANSLATED = ROOT / "scripts" / "data" / "translated-squad-documents.jsonl"
ENGLISH_NOTE = ("Harbour notes\n\nThe harbour of Port Elling was rebuilt in 1931 after a storm destroyed the old pier. "
                "The new pier is 420 metres long and was designed by the engineer Mara Lindqvist.\n")
VIETNAMESE_NOTE = ("Ghi chép về hiệp định\n\nHai bên đã ký hiệp định ngừng bắn tại thủ đô sau ba ngày đàm phán. "
                   "Các nhà lãnh đạo gặp nhau trong một hội trường nhỏ ở trung tâm thành phố.\n\n"
                   "Sau khi hiệp định được ký, giao tranh giảm dần và đường biên giới được mở lại vào mùa xuân.\n")


def test_the_shipped_weights_carry_both_maps_and_their_recipe():
    tensors = load_file(str(TRAINED_WEIGHTS))
    card = json.loads(TRAINED_WEIGHTS.with_name("reader.json").read_text(encoding="utf-8"))["query_adapter"]
    rows = [json.loads(line) for line in TRANSLATED.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert card["data"]["pairs"] == sum(1 for row in rows for qa in row["qas"] if qa["en"] and qa["vi"])
    assert card["model"] == DEFAULT_MODEL and card["recipe"]["seeds"] >= 1
    assert sorted(card["tensors"]) == [adapter_tensor("en"), adapter_tensor("vi")]
    for language in ("en", "vi"):
        matrix = tensors[adapter_tensor(language)]
        assert matrix.shape == (DIMENSION, DIMENSION) and matrix.dtype == np.float16
        # trained near the identity: a map, not a new embedding space
        change = matrix.astype(np.float32) - np.eye(DIMENSION, dtype=np.float32)
        assert 0 < np.linalg.norm(change) < np.sqrt(DIMENSION)
        moved = card["maps"][language]["mean_cosine_to_other_wording"]
        assert moved["after"] > moved["before"]


def test_the_adapter_is_for_the_default_model_only_and_can_be_switched_off(tmp_path, monkeypatch):
    shipped = load_query_adapter(DEFAULT_MODEL)
    assert shipped is not None and shipped.covers("en") and shipped.covers("vi") and not shipped.covers("fr")
    assert load_query_adapter("sentence-transformers/all-MiniLM-L6-v2") is None
    monkeypatch.setenv(ADAPTER_ENV, "0")
    assert load_query_adapter(DEFAULT_MODEL) is None
    monkeypatch.delenv(ADAPTER_ENV)
    without = tmp_path / "older.safetensors"
    save_file({"qa_outputs.bias": np.zeros(2, dtype=np.float16)}, str(without))
    assert load_query_adapter(DEFAULT_MODEL, without) is None  # an older reader file: no adapter, no error
    wrong = tmp_path / "wrong.safetensors"
    save_file({adapter_tensor("en"): np.eye(8, dtype=np.float16)}, str(wrong))
    with pytest.raises(ModelNotAvailableError, match=r"\(8, 8\)"):
        load_query_adapter(DEFAULT_MODEL, wrong)
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(ModelNotAvailableError, match="cannot be read"):
        load_query_adapter(DEFAULT_MODEL, corrupt)


def test_mapped_vectors_are_unit_length():
    rng = np.random.default_rng(0)
    adapter = QueryAdapter({"en": rng.normal(size=(4, 4)).astype(np.float32)})
    mapped = adapter(rng.normal(size=(3, 4)).astype(np.float32), "en")
    np.testing.assert_allclose(np.linalg.norm(mapped, axis=1), 1.0, rtol=1e-5)
    assert adapter(mapped[0], "en").shape == (4,)  # one question's vector, as the retriever passes it


def test_bridged_takes_each_language_from_its_own_search():
    own = Candidates(np.array([0, 1, 2]), ["en", "vi", "en"], np.array([0.9, 0.5, 0.7]), np.array([0.8, 0.4, 0.6]),
                     np.array([0, 1, 0]), np.array([3.0, 0.0, 1.0]))
    mapped = Candidates(np.array([1, 2, 3]), ["vi", "en", "vi"], np.array([0.6, 0.1, 0.65]),
                        np.array([0.7, 0.1, 0.5]), np.array([2, 0, 1]), np.array([0.0, 1.0, 0.0]))
    joined = bridged(own, mapped, "en")
    by_row = {int(r): (lang, float(d), float(s), int(b)) for r, lang, d, s, b in
              zip(joined.rows, joined.languages, joined.dense, joined.sentence, joined.best_sentence)}
    # English passages as the question's own vector scored them; Vietnamese ones as the mapped vector did
    assert by_row == {0: ("en", 0.9, 0.8, 0), 2: ("en", 0.7, 0.6, 0), 1: ("vi", 0.6, 0.7, 2), 3: ("vi", 0.65, 0.5, 1)}
    assert sorted(joined.lexical.tolist()) == [0.0, 0.0, 1.0, 3.0]


@pytest.fixture(scope="module")
def mixed_index(tmp_path_factory, embedder):
    """A short Vietnamese note and a short English one in one index."""
    seeds = tmp_path_factory.mktemp("mixed") / "seeds"
    seeds.mkdir()
    (seeds / "hiep-dinh.txt").write_text(VIETNAMESE_NOTE, encoding="utf-8")
    (seeds / "harbour.txt").write_text(ENGLISH_NOTE, encoding="utf-8")
    index = seeds.parent / "index"
    build_index(seeds, index, embedder=embedder)
    return index


def dense_as_scored(retriever: Retriever, question: str) -> tuple[list[str], list[float], np.ndarray]:
    hits = retriever.search(question, k=12)
    vectors = retriever.store.passage_vectors()
    rows = [retriever.store.passages.row_of(h.passage_id) for h in hits]
    return [h.passage.language for h in hits], [h.scores.dense for h in hits], vectors[rows]


@pytest.mark.slow
@pytest.mark.parametrize("question, language", [("Which city did the leaders meet in to sign the ceasefire?", "en"),
                                                ("Cầu cảng mới dài bao nhiêu mét?", "vi")])
def test_a_question_meets_the_other_language_through_its_map_and_its_own_without(mixed_index, embedder, question,
                                                                                language):
    retriever = Retriever.load(mixed_index, embedder=embedder)
    adapter = retriever.embedder.query_adapter
    assert adapter is not None and retriever.retrieve(question).language == language
    raw = retriever.embedder.encode_queries([question])[0]
    languages, dense, vectors = dense_as_scored(retriever, question)
    assert {"vi", "en"} <= set(languages)
    for passage_language, score, vector in zip(languages, dense, vectors):
        expected = vector @ (adapter(raw, language) if passage_language != language else raw)
        assert score == pytest.approx(float(expected), abs=1e-5), passage_language


@pytest.mark.slow
def test_without_the_adapter_english_over_vietnamese_is_scored_by_the_raw_vector(mixed_index, embedder):
    plain = dataclasses.replace(embedder, query_adapter=None)
    retriever = Retriever.load(mixed_index, embedder=plain)
    question = "Which city did the leaders meet in to sign the ceasefire?"
    raw = retriever.embedder.encode_queries([question])[0]
    _, dense, vectors = dense_as_scored(retriever, question)
    np.testing.assert_allclose(dense, vectors @ raw, atol=1e-5)


@pytest.mark.slow
def test_training_stores_the_adapter_beside_the_other_tensors_and_records_its_recipe(tmp_path):
    import subprocess
    import sys

    data = tmp_path / "pairs.jsonl"
    pairs = [("Where was the treaty signed?", "Hiệp ước được ký ở đâu?"),
             ("Who built the bridge?", "Ai đã xây cây cầu?"),
             ("How long is the river?", "Con sông dài bao nhiêu?"),
             ("When did the war end?", "Chiến tranh kết thúc khi nào?")]
    data.write_text(json.dumps({"id": "p1", "qas": [{"id": f"q{i}", "en": en, "vi": vi, "answer": None}
                                                   for i, (en, vi) in enumerate(pairs)]}, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    weights = tmp_path / "reader.safetensors"
    kept = {"qa_outputs.bias": np.array([0.25, -0.5], dtype=np.float16),
            "query_adapter.weight": np.eye(DIMENSION, dtype=np.float16)}
    save_file(kept, str(weights))
    weights.chmod(0o644)
    (tmp_path / "reader.json").write_text(json.dumps({"model": "a reader"}), encoding="utf-8")
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "train_query_adapter.py"), "--data", str(data),
                           "--weights", str(weights), "--seeds", "2", "--epochs", "3"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    tensors = load_file(str(weights))
    np.testing.assert_array_equal(tensors["qa_outputs.bias"], kept["qa_outputs.bias"])
    assert "query_adapter.weight" not in tensors  # an earlier adapter's tensor is replaced, not kept beside
    assert {n: t.shape for n, t in tensors.items() if n.startswith("query_adapter.")} == {
        adapter_tensor("en"): (DIMENSION, DIMENSION), adapter_tensor("vi"): (DIMENSION, DIMENSION)}
    card = json.loads((tmp_path / "reader.json").read_text(encoding="utf-8"))
    assert card["model"] == "a reader"  # the reader's card is kept, the adapter's recipe added beside it
    assert card["query_adapter"]["data"]["pairs"] == 4 and card["query_adapter"]["recipe"]["seeds"] == 2
    for language in ("en", "vi"):  # each learned to carry these questions onto their other wording
        moved = card["query_adapter"]["maps"][language]["mean_cosine_to_other_wording"]
        assert moved["after"] > moved["before"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # nothing half-written left behind
    assert weights.stat().st_mode & 0o777 == 0o644  # still readable by all, as the file was


@pytest.mark.parametrize(("value", "enabled"), [("0", False), (" OFF ", False), ("no", False), ("false", False),
                                                ("1", True), ("on", True), ("", True), ("maybe", True)])
def test_the_switch_reads_off_values_in_any_case_and_anything_else_as_on(monkeypatch, value, enabled):
    from qa.embedding.adapter import adapter_enabled
    from qa.embedding.embeddings import hub_offline

    monkeypatch.setenv(ADAPTER_ENV, value)
    assert adapter_enabled() is enabled
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", value)  # the hub's switch is off unless set on
    assert hub_offline() is (value.strip().lower() in ("1", "on"))
