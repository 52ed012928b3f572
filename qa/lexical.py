"""BM25 over passages: exact word matches that dense vectors blur (names, numbers, rare words).

The index is `bm25s` (a maintained, sparse-matrix BM25 that saves to disk and memory-maps back) fed with our own
tokens (`qa.text.lexical_tokens`: Vietnamese syllable pairs and ASCII folding, which a stock tokenizer lacks).
Built once with the index and saved in its version folder, so opening an index costs no BM25 rebuild.
Scoring is Lucene's BM25 (k1 1.5, b 0.75): the same ranking, measured, as the hand-written one it replaced.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import bm25s
import numpy as np

from qa.text import lexical_tokens

K1, B = 1.5, 0.75


class LexicalIndex:
    """BM25 scores of every passage for a question, and the corpus rarity (idf) of a word."""

    def __init__(self, model: bm25s.BM25) -> None:
        self._model = model
        self._vocabulary: dict[str, int] = model.vocab_dict
        self.n = int(model.scores["num_docs"])
        pointers = np.asarray(model.scores["indptr"])
        self._document_frequency = np.diff(pointers)  # column t of the CSC matrix holds token t's documents

    @classmethod
    def build(cls, texts: Iterable[str]) -> "LexicalIndex":
        """The index of `texts`, read once. bm25s's own `index()` holds every document's token strings at once
        (16 GB and more at a million passages); this keeps one document's, as counts, and builds the same
        score matrix (`tests/test_lexical.py` compares the two), then hands it to bm25s to save and search."""
        vocabulary: dict[str, int] = {}
        terms, counts, lengths = [], [], []
        for text in texts:
            ids = [vocabulary.setdefault(token, len(vocabulary)) for token in lexical_tokens(text)]
            unique, tf = np.unique(np.asarray(ids, dtype=np.int32), return_counts=True)
            terms.append(unique)
            counts.append(tf.astype(np.float32))
            lengths.append(len(ids))
        vocabulary.setdefault("", len(vocabulary))  # bm25s's empty token, which matches nothing
        model = bm25s.BM25(k1=K1, b=B, method="lucene")
        model.scores = _score_matrix(terms, counts, np.asarray(lengths, dtype=np.float32), len(vocabulary))
        model.vocab_dict = vocabulary
        model.unique_token_ids_set = set(vocabulary.values())
        model.nonoccurrence_array = None  # Lucene's variant scores absent words 0
        return cls(model)

    def save(self, folder: Path | str) -> None:
        self._model.save(str(folder), show_progress=False)

    @classmethod
    def load(cls, folder: Path | str) -> "LexicalIndex":
        return cls(bm25s.BM25.load(str(folder), mmap=True, show_progress=False))

    def idf(self, token: str) -> float:
        row = self._vocabulary.get(token)
        df = int(self._document_frequency[row]) if row is not None else 0
        return math.log(1 + (self.n - df + 0.5) / (df + 0.5))

    def passage_weights(self) -> list[dict[str, float]]:
        """Each passage's BM25 weight of each of its tokens (idf and Lucene's k1+1 included): a question's score
        is the sum of these over its distinct tokens, so a store that keeps them as sparse vectors scores alike."""
        pointers = np.asarray(self._model.scores["indptr"])
        rows = np.asarray(self._model.scores["indices"])
        weights = np.asarray(self._model.scores["data"], dtype=np.float32) * (K1 + 1)
        by_passage: list[dict[str, float]] = [{} for _ in range(self.n)]
        for token, column in self._vocabulary.items():
            if column + 1 >= len(pointers):  # bm25s's padding token "", no column of its own
                continue
            for position in range(pointers[column], pointers[column + 1]):
                by_passage[rows[position]][token] = float(weights[position])
        return by_passage

    def scores(self, query: str) -> np.ndarray:
        tokens = [t for t in dict.fromkeys(lexical_tokens(query)) if t in self._vocabulary]
        if not self.n or not tokens:
            return np.zeros(self.n, dtype=np.float32)
        return np.asarray(self._model.get_scores(tokens), dtype=np.float32) * (K1 + 1)


def _score_matrix(terms: list[np.ndarray], counts: list[np.ndarray], lengths: np.ndarray, vocabulary: int) -> dict:
    """bm25s's CSC matrix (column = token, row = document) of Lucene BM25 term scores, without the (k1 + 1)
    factor, as `bm25s.BM25.index(method="lucene")` computes it."""
    n = len(lengths)
    term = np.concatenate(terms) if terms else np.zeros(0, dtype=np.int32)
    tf = np.concatenate(counts) if counts else np.zeros(0, dtype=np.float32)
    document = np.repeat(np.arange(n, dtype=np.int32), [len(t) for t in terms])
    df = np.bincount(term, minlength=vocabulary)
    idf = np.log(1 + (n - df + 0.5) / (df + 0.5)).astype(np.float32)
    average = float(lengths.mean()) if n else 1.0
    scores = idf[term] * tf / (K1 * ((1 - B) + B * lengths[document] / average) + tf)
    order = np.argsort(term, kind="stable")  # by token, then by document: CSC order
    return {"data": scores[order].astype(np.float32), "indices": document[order],
            "indptr": np.concatenate([[0], np.cumsum(df)]).astype(np.int32), "num_docs": n}
