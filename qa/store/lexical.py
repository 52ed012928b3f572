"""BM25 over passages: exact word matches that dense vectors blur (names, numbers, rare words).

The index is `bm25s`'s (a maintained, sparse-matrix BM25 that saves to disk and memory-maps back) fed with our
own tokens (`qa.text.lexical_tokens`: Vietnamese syllable pairs and ASCII folding, which a stock tokenizer lacks).
Built once with the index and saved, by bm25s, in its version folder, so opening an index costs no BM25 rebuild.
Questions read bm25s's saved score matrix directly, memory-mapped: importing bm25s pulls in SciPy, a third of a
cold `qa ask`, for a column sum (`tests/test_lexical.py` checks the scores against bm25s's own).
Scoring is Lucene's BM25 (k1 1.5, b 0.75): the same ranking, measured, as the hand-written one it replaced.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from qa.text import lexical_tokens

K1, B = 1.5, 0.75
MATRIX_FILES = {"data": "data.csc.index.npy", "indices": "indices.csc.index.npy", "indptr": "indptr.csc.index.npy"}
VOCABULARY_FILE, PARAMETERS_FILE = "vocab.index.json", "params.index.json"


class LexicalIndex:
    """BM25 scores of every passage for a question, and the corpus rarity (idf) of a word."""

    def __init__(self, matrix: dict, vocabulary: dict[str, int]) -> None:
        """`matrix`: bm25s's CSC score matrix (`data`, `indices`, `indptr`, `num_docs`; column = token)."""
        self._matrix = matrix
        self._vocabulary = vocabulary
        self.n = int(matrix["num_docs"])
        self._pointers = np.asarray(matrix["indptr"])
        self._document_frequency = np.diff(self._pointers)  # column t holds token t's documents

    @classmethod
    def build(cls, texts: Iterable[str]) -> "LexicalIndex":
        """The index of `texts`, read once. bm25s's own `index()` holds every document's token strings at once
        (16 GB and more at a million passages); this keeps one document's, as counts, and builds the same
        score matrix (`tests/test_lexical.py` compares the two)."""
        vocabulary: dict[str, int] = {}
        terms, counts, lengths = [], [], []
        for text in texts:
            ids = [vocabulary.setdefault(token, len(vocabulary)) for token in lexical_tokens(text)]
            unique, tf = np.unique(np.asarray(ids, dtype=np.int32), return_counts=True)
            terms.append(unique)
            counts.append(tf.astype(np.float32))
            lengths.append(len(ids))
        vocabulary.setdefault("", len(vocabulary))  # bm25s's empty token, which matches nothing
        return cls(_score_matrix(terms, counts, np.asarray(lengths, dtype=np.float32), len(vocabulary)), vocabulary)

    def save(self, folder: Path | str) -> None:
        """Saved by bm25s, in its format (only writers import it)."""
        import bm25s

        model = bm25s.BM25(k1=K1, b=B, method="lucene")
        model.scores = self._matrix
        model.vocab_dict = self._vocabulary
        model.unique_token_ids_set = set(self._vocabulary.values())
        model.nonoccurrence_array = None  # Lucene's variant scores absent words 0
        model.save(str(folder), show_progress=False)

    @classmethod
    def load(cls, folder: Path | str) -> "LexicalIndex":
        """bm25s's saved files, memory-mapped; refused (ValueError) when they hold another BM25 variant."""
        folder = Path(folder)
        parameters = json.loads((folder / PARAMETERS_FILE).read_text(encoding="utf-8"))
        if (parameters.get("method"), parameters.get("k1"), parameters.get("b")) != ("lucene", K1, B):
            raise ValueError(f"{folder} holds a BM25 index of another kind: {parameters}")
        matrix = {key: np.load(folder / name, mmap_mode="r") for key, name in MATRIX_FILES.items()}
        matrix["num_docs"] = int(parameters["num_docs"])
        return cls(matrix, json.loads((folder / VOCABULARY_FILE).read_text(encoding="utf-8")))

    def idf(self, token: str) -> float:
        row = self._vocabulary.get(token)
        df = int(self._document_frequency[row]) if row is not None else 0
        return math.log(1 + (self.n - df + 0.5) / (df + 0.5))

    def attainable(self, query: str) -> float:
        return attainable_score(query, self.idf)

    def _run(self, column: int | None) -> tuple[int, int]:
        """Where a token's column lies in the matrix: empty for an unknown token and for bm25s's padding one."""
        if column is None or column + 1 >= len(self._pointers):
            return 0, 0
        return int(self._pointers[column]), int(self._pointers[column + 1])

    def passage_weights(self) -> list[dict[str, float]]:
        """Each passage's BM25 weight of each of its tokens (idf and Lucene's k1+1 included): a question's score
        is the sum of these over its distinct tokens, so a store that keeps them as sparse vectors scores alike."""
        rows = np.asarray(self._matrix["indices"])
        weights = np.asarray(self._matrix["data"], dtype=np.float32) * (K1 + 1)
        by_passage: list[dict[str, float]] = [{} for _ in range(self.n)]
        for token, column in self._vocabulary.items():
            for position in range(*self._run(column)):
                by_passage[rows[position]][token] = float(weights[position])
        return by_passage

    def scores(self, query: str) -> np.ndarray:
        """The sum of the question's distinct tokens' columns. A column lists each passage once, so a plain
        fancy-indexed add is exact (and several times faster than bm25s's `np.add.at`)."""
        scores = np.zeros(self.n, dtype=np.float32)
        rows, data = self._matrix["indices"], self._matrix["data"]
        for token in dict.fromkeys(lexical_tokens(query)):
            first, end = self._run(self._vocabulary.get(token))
            scores[rows[first:end]] += data[first:end]
        return scores * np.float32(K1 + 1)


def attainable_score(query: str, idf: Callable[[str], float]) -> float:
    """The BM25 of a passage of average length holding each of the query's distinct tokens once: the sum of their
    idf (Lucene's term score at tf 1 and average length is the idf itself). Every store scales BM25 by this."""
    return sum(idf(token) for token in dict.fromkeys(lexical_tokens(query)))


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
