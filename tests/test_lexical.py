"""The BM25 index hoidap builds a document at a time scores exactly as bm25s's own `index()` does."""

from __future__ import annotations

import math

import numpy as np
import pytest

import bm25s
from qa.store.lexical import B, K1, LexicalIndex
from qa.text import lexical_tokens

TEXTS = [
    "Sông Hồng chảy qua Hà Nội và đổ ra vịnh Bắc Bộ.",
    "Đồng bằng sông Cửu Long là vựa lúa lớn nhất Việt Nam; sông Mê Kông chia thành chín nhánh.",
    "The Red River flows through Hanoi into the Gulf of Tonkin.",
    "The Mekong Delta is Vietnam's rice bowl; the river splits into nine branches.",
    "Hà Nội, Hà Nội, Hà Nội: a name repeated changes term frequency, not document frequency.",
    "",
    "1993 1994 1995 ngừng bắn ceasefire Bishkek",
]
QUESTIONS = ["sông Hồng ở đâu?", "Where does the Red River flow?", "song me kong", "Hà Nội", "ceasefire 1994",
             "nothing matches this"]


def bm25s_scores(model: bm25s.BM25, question: str) -> np.ndarray:
    """bm25s's own scores of a question (Lucene's k1+1 factor, which bm25s leaves out, put back)."""
    tokens = [t for t in dict.fromkeys(lexical_tokens(question)) if t in model.vocab_dict]
    return model.get_scores(tokens) * (K1 + 1) if tokens else np.zeros(model.scores["num_docs"])


def bm25s_idf(model: bm25s.BM25, token: str) -> float:
    column = model.vocab_dict.get(token)
    pointers = model.scores["indptr"]
    df = int(pointers[column + 1] - pointers[column]) if column is not None else 0
    return math.log(1 + (len(TEXTS) - df + 0.5) / (df + 0.5))


def test_scores_and_idf_equal_bm25s_own_index(tmp_path):
    reference = bm25s.BM25(k1=K1, b=B, method="lucene")
    reference.index([lexical_tokens(t) for t in TEXTS], show_progress=False)
    built = LexicalIndex.build(iter(TEXTS))  # read once, as a stream
    built.save(tmp_path / "lexical")
    loaded = LexicalIndex.load(tmp_path / "lexical")  # read without bm25s
    saved = bm25s.BM25.load(str(tmp_path / "lexical"), mmap=True, show_progress=False)  # what bm25s reads back
    for question in QUESTIONS:
        expected = bm25s_scores(reference, question)
        assert expected.any() == (question != "nothing matches this")
        np.testing.assert_allclose(built.scores(question), expected, atol=1e-5)
        np.testing.assert_allclose(loaded.scores(question), expected, atol=1e-5)
        np.testing.assert_allclose(bm25s_scores(saved, question), expected, atol=1e-5)
    for token in ("sông", "song", "hà_nội", "river", "the", "absent"):
        assert built.idf(token) == pytest.approx(bm25s_idf(reference, token)) and loaded.idf(token) == built.idf(token)
    assert built.n == loaded.n == len(TEXTS)
    assert loaded.scores("Hà Nội")[4] > loaded.scores("Hà Nội")[0] > 0  # repeats count, within a document


def test_another_bm25_variant_on_disk_is_refused(tmp_path):
    other = bm25s.BM25(k1=1.2, b=0.75, method="lucene")
    other.index([lexical_tokens(t) for t in TEXTS], show_progress=False)
    other.save(str(tmp_path / "lexical"), show_progress=False)
    with pytest.raises(ValueError, match="another kind"):
        LexicalIndex.load(tmp_path / "lexical")


def test_an_empty_corpus_scores_nothing():
    index = LexicalIndex.build([])
    assert index.n == 0 and len(index.scores("anything")) == 0
