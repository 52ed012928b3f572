"""BM25 over passages: exact word matches that dense vectors blur (names, numbers, rare words)."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np

from qa.text import lexical_tokens


class BM25:
    """Okapi BM25 with an inverted index; built in memory from the stored passages at load time."""

    def __init__(self, documents: Sequence[str], k1: float = 1.5, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.n = len(documents)
        self.lengths = np.zeros(self.n, dtype=np.float32)
        self.postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for i, text in enumerate(documents):
            counts = Counter(lexical_tokens(text))
            self.lengths[i] = sum(counts.values())
            for token, tf in counts.items():
                self.postings[token].append((i, tf))
        self.average_length = float(self.lengths.mean()) if self.n else 0.0

    def idf(self, token: str) -> float:
        df = len(self.postings.get(token, ()))
        return math.log(1 + (self.n - df + 0.5) / (df + 0.5))

    def scores(self, query: str) -> np.ndarray:
        scores = np.zeros(self.n, dtype=np.float32)
        if not self.n:
            return scores
        norm = self.k1 * (1 - self.b + self.b * self.lengths / max(self.average_length, 1e-9))
        for token in set(lexical_tokens(query)):
            postings = self.postings.get(token)
            if not postings:
                continue
            idf = self.idf(token)
            rows = np.fromiter((p[0] for p in postings), dtype=np.int64, count=len(postings))
            tf = np.fromiter((p[1] for p in postings), dtype=np.float32, count=len(postings))
            scores[rows] += idf * tf * (self.k1 + 1) / (tf + norm[rows])
        return scores
