"""BM25 over passages: exact word matches that dense vectors blur (names, numbers, rare words).

The index is `bm25s` (a maintained, sparse-matrix BM25 that saves to disk and memory-maps back) fed with our own
tokens (`qa.text.lexical_tokens`: Vietnamese syllable pairs and ASCII folding, which a stock tokenizer lacks).
Built once with the index and saved in its version folder, so opening an index costs no BM25 rebuild.
Scoring is Lucene's BM25 (k1 1.5, b 0.75): the same ranking, measured, as the hand-written one it replaced.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
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
    def build(cls, texts: Sequence[str]) -> "LexicalIndex":
        model = bm25s.BM25(k1=K1, b=B, method="lucene")
        model.index([lexical_tokens(text) for text in texts], show_progress=False)
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
