"""The passage store at size: SQLite tables read row by row, vectorised sentence scores, exact and IVF FAISS.

No model here: documents are written by the tests, split by the real splitter, and given random unit vectors, so
a store of thousands of passages builds in seconds."""

from __future__ import annotations

import numpy as np
import pytest

from qa.store.local import versions
from qa.documents.reading import make_document
from qa.documents.passages import split_documents
from qa.records import Passage
from qa.store.local.store import FORMAT_VERSION, IndexStore, Manifest, make_faiss_index, top_rows, write_version

WORDS = ("sông núi biển rừng đồng lúa mưa gió nắng trăng river mountain sea forest field rain wind sun moon "
         "harbour bridge market temple garden").split()
DIMENSION = 32


def make_store(root, documents: int = 40, paragraphs: int = 12, kind: str = "auto", seed: int = 0) -> list[Passage]:
    """A published version of generated documents with random unit vectors; returns its passages in row order."""
    rng = np.random.default_rng(seed)
    docs = []
    for d in range(documents):
        paras = []
        for p in range(paragraphs):
            sentences = [" ".join(rng.choice(WORDS, size=8)).capitalize() + f" {d}-{p}-{s}." for s in range(3)]
            paras.append(" ".join(sentences))
        docs.append(make_document(f"doc-{d:03d}.txt", f"Document {d}\n\n" + "\n\n".join(paras)))
    passages = split_documents(docs)
    sentences = sum(len(p.sentences) for p in passages)

    def unit(n: int) -> np.ndarray:
        vectors = rng.standard_normal((n, DIMENSION)).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    manifest = Manifest(FORMAT_VERSION, "test-model", DIMENSION, {}, {},
                        {"documents": len(docs), "passages": len(passages), "sentences": sentences},
                        "", {}, "", 0.0)
    staging = versions.new_staging(root)
    write_version(staging, manifest, docs, passages, unit(len(passages)), unit(sentences), kind=kind)
    versions.publish(root, staging)
    return passages


class VectorsGiven:
    """In place of a model: `Retriever.rank` is handed the question's vector, so nothing is ever encoded."""

    name, dimension = "test-model", DIMENSION
    query_adapter = None  # no map across languages: every question is ranked by the vector it is handed


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("tables") / "index"
    return root, make_store(root)


def test_the_tables_read_back_every_passage_and_document_by_row_id_and_name(built):
    root, passages = built
    store = IndexStore.load(root)
    try:
        table = store.passages
        assert len(table) == len(passages) and list(table) == passages
        assert table[0] == passages[0] and table[-1] == passages[-1] and table[3:6] == passages[3:6]
        assert table.at([7, 2, 7]) == [passages[7], passages[2], passages[7]]  # order kept, repeats allowed
        assert table.languages([1, 0]) == [passages[1].language, passages[0].language]
        assert table.row_of(passages[11].id) == 11
        with pytest.raises(KeyError):
            table.row_of("no-such-passage")
        with pytest.raises(IndexError):
            table[len(passages)]
        assert set(store.documents) == {p.document for p in passages} and len(store.documents) == 40
        assert "doc-005.txt" in store.documents and "nothing.txt" not in store.documents
        text = store.document_text("doc-005.txt")
        first = next(p for p in passages if p.document == "doc-005.txt")
        assert text[first.sentences[0].start:first.sentences[0].end] == first.sentences[0].text
        assert store.passages.counts_by_document() == {name: 12 for name in store.documents}
    finally:
        store.close()


def test_opening_reads_no_passage_and_a_question_reads_only_its_hits(built, monkeypatch):
    """What makes a million passages open in milliseconds: nothing is parsed until a hit needs it."""
    from qa.retrieval.retriever import Retriever

    root, passages = built
    parsed = []
    original = Passage.from_dict.__func__
    monkeypatch.setattr(Passage, "from_dict", classmethod(lambda cls, data: parsed.append(1) or original(cls, data)))
    store = IndexStore.load(root)
    try:
        assert parsed == []
        vector = np.asarray(store.vectors[5])
        found = store.candidates("sông núi river", vector, 50)
        assert parsed == [] and len(found.rows) >= 50 and 5 in found.rows
        retriever = Retriever(store, VectorsGiven())
        hits = retriever.rank("sông núi river", "vi", vector, 5)
        assert len(parsed) == 5 and hits[0].passage == passages[5]
    finally:
        store.close()


def test_best_sentence_scores_match_a_plain_loop(built):
    root, passages = built
    store = IndexStore.load(root)
    try:
        rng = np.random.default_rng(1)
        vector = rng.standard_normal(DIMENSION).astype(np.float32)
        rows = rng.choice(len(passages), size=60, replace=False)
        best, score = store._sentence_scores(vector, rows)
        for i, row in enumerate(rows):
            own = store.sentence_vectors[store.sentence_offsets[row]:store.sentence_offsets[row + 1]] @ vector
            assert best[i] == int(np.argmax(own)) and score[i] == pytest.approx(float(own.max()), abs=1e-6)
            np.testing.assert_allclose(store.sentence_similarities(passages[row].id, vector), own, atol=1e-6)
    finally:
        store.close()


def test_top_rows_are_the_highest_positive_scores():
    scores = np.array([0.0, 3.0, 0.5, 0.0, 2.0, 9.0, 0.1], dtype=np.float32)
    assert sorted(top_rows(scores, 3)) == [1, 4, 5]
    assert sorted(top_rows(scores, 10)) == [1, 2, 4, 5, 6]  # only matches, never a zero
    assert len(top_rows(np.zeros(5, dtype=np.float32), 3)) == 0


def test_an_ivf_index_probing_every_list_finds_what_exact_search_finds_up_to_8_bit_rounding(tmp_path):
    rng = np.random.default_rng(2)
    vectors = rng.standard_normal((3000, DIMENSION)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    exact, approximate = make_faiss_index(vectors, "exact"), make_faiss_index(vectors, "approximate")
    assert type(approximate).__name__ == "IndexIVFScalarQuantizer" and 1 <= approximate.nprobe < approximate.nlist
    approximate.nprobe = approximate.nlist
    queries = vectors[:20]
    truth, found = exact.search(queries, 10)[1], approximate.search(queries, 10)[1]
    assert (found[:, 0] == truth[:, 0]).all()  # each vector finds itself first
    overlap = [len(set(a) & set(b)) / 10 for a, b in zip(truth, found)]
    assert min(overlap) >= 0.8 and np.mean(overlap) >= 0.95  # near-ties may swap at the tenth place
    with pytest.raises(ValueError):
        make_faiss_index(vectors, "hnsw")


def test_an_approximate_store_answers_with_exact_cosines(tmp_path):
    root = tmp_path / "index"
    make_store(root, documents=10, kind="approximate")
    store = IndexStore.load(root)
    try:
        assert type(store.passage_index).__name__ == "IndexIVFScalarQuantizer"
        vector = np.asarray(store.vectors[3])
        found = store.candidates("", vector, 10)
        position = int(np.flatnonzero(found.rows == 3)[0])
        assert found.dense[position] == pytest.approx(1.0, abs=1e-5)
        np.testing.assert_allclose(found.dense, np.asarray(store.vectors[found.rows]) @ vector, atol=1e-6)
    finally:
        store.close()
