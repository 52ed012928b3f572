"""What retrieval asks of a passage store, whichever holds the vectors: FAISS files on this machine (`qa.store.local`,
the default) or a Qdrant collection (`qa.store.qdrant`, past one machine). This module names the interface and
imports no implementation; `qa.store.location.parse_index` chooses one, once, where a location enters.

A store answers one question per call — "which passages might answer this, and how does each score?" — with the
raw signals fusion needs (`Candidates`); ranking, fusion and answers stay the same for every store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from qa.records import Document, Passage


class IndexManifest(Protocol):
    """What a store's manifest tells its readers (`qa.Manifest`, which both stores write, has these and more)."""

    model: str
    dimension: int
    retrieval: dict
    passage_prompt: str | None
    encoder: str


@dataclass(frozen=True)
class Candidates:
    """The passages a store proposes for a question (dense neighbours ∪ BM25 matches), with their raw scores.
    Only their rows and languages are read here: the few that become hits are read with `passages.at(rows)`."""

    rows: np.ndarray  # passage rows (`PassageStore.passages` positions)
    languages: list[str]
    dense: np.ndarray  # cosine of question and passage
    sentence: np.ndarray  # cosine of question and the passage's best sentence (-1 for a passage with none)
    best_sentence: np.ndarray  # that sentence's index in the passage
    lexical: np.ndarray  # BM25 (unscaled; 0 where no word matches)

    @classmethod
    def none(cls) -> "Candidates":
        """No candidate: an empty index."""
        empty = np.zeros(0, dtype=np.float32)
        return cls(np.zeros(0, dtype=np.int64), [], empty, empty, np.zeros(0, dtype=np.int64), empty)


class PassageStore(Protocol):
    """A loaded index version: everything retrieval and answers need, without the model."""

    manifest: IndexManifest
    version: str
    passages: Sequence[Passage]  # by row
    documents: Mapping[str, Document]  # by name

    def candidates(self, question: str, vector: np.ndarray, depth: int) -> Candidates:
        """Up to `depth` dense neighbours of `vector` and up to `depth` BM25 matches of `question`."""

    def sentence_similarities(self, passage_id: str, vector: np.ndarray) -> np.ndarray:
        """Cosine of `vector` with each sentence of the passage, in order."""

    def idf(self, token: str) -> float:
        """How rare a lexical token is in the corpus (BM25's idf)."""

    def attainable_lexical(self, question: str) -> float:
        """The BM25 a passage of average length holding each of the question's distinct tokens once would score:
        the sum of their idf (a token no passage holds counts as the rarest). The question's own BM25 scale."""

    def document_text(self, name: str) -> str: ...

    def close(self) -> None: ...


@runtime_checkable
class Index(Protocol):
    """Where an index lives and how its versions are read and written: a folder (`qa.store.local.folder.LocalIndex`)
    or a Qdrant alias (`qa.store.qdrant.index.QdrantIndex`). Made once from a location by
    `qa.store.location.parse_index`; everything below it asks this object, never the location's form again."""

    location: Path | str  # what the user gave: a folder as a `Path`, a Qdrant URL as its `str`

    def __str__(self) -> str: ...

    @property
    def cli_argument(self) -> str:
        """How `qa index` is told about this index: "--index FOLDER" or "--store URL"."""

    def rebuild_hint(self) -> str:
        """The command that rebuilds this index from scratch, for error messages."""

    def read_manifest(self) -> IndexManifest:
        """The manifest of the version readers would open now (`IndexNotFoundError` when there is none)."""

    def current_version(self) -> str | None:
        """The version readers would open now (None: no index), cheap enough to poll."""

    def open(self) -> PassageStore:
        """The current version, loaded; readers keep it until `close()` whatever a writer publishes meanwhile."""

    def writing(self, wait: float) -> AbstractContextManager[None]:
        """Held while one build reads the old version and publishes a new one (a folder's writer lock, waiting up
        to `wait` seconds; nothing spans machines for Qdrant)."""

    def publish(self, manifest: IndexManifest, documents: Sequence[Document], passages: Sequence[Passage],
                passage_vectors: np.ndarray, sentence_vectors: np.ndarray) -> str:
        """Write a new version and make it the current one in one step; returns its name."""
