"""The BM25 index hoidap builds a document at a time scores exactly as bm25s's own `index()` does."""

from __future__ import annotations

import numpy as np

import bm25s
from qa.lexical import B, K1, LexicalIndex
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


def test_scores_and_idf_equal_bm25s_own_index(tmp_path):
    reference = bm25s.BM25(k1=K1, b=B, method="lucene")
    reference.index([lexical_tokens(t) for t in TEXTS], show_progress=False)
    expected = LexicalIndex(reference)
    built = LexicalIndex.build(iter(TEXTS))  # read once, as a stream
    built.save(tmp_path / "lexical")
    loaded = LexicalIndex.load(tmp_path / "lexical")
    for question in QUESTIONS:
        np.testing.assert_allclose(built.scores(question), expected.scores(question), atol=1e-5)
        np.testing.assert_allclose(loaded.scores(question), expected.scores(question), atol=1e-5)
    for token in ("sông", "song", "hà_nội", "river", "the", "absent"):
        assert built.idf(token) == expected.idf(token) == loaded.idf(token)
    assert built.n == loaded.n == len(TEXTS)
    assert loaded.scores("Hà Nội")[4] > loaded.scores("Hà Nội")[0] > 0  # repeats count, within a document


def test_an_empty_corpus_scores_nothing():
    index = LexicalIndex.build([])
    assert index.n == 0 and len(index.scores("anything")) == 0
