"""What retrieval asks of a passage store, whichever holds the vectors: FAISS files on this machine (`qa.store`,
the default) or a Qdrant collection (`qa.qdrant_store`, past one machine).

A store answers one question per call — "which passages might answer this, and how does each score?" — with the
raw signals fusion needs (`Candidates`); ranking, fusion and answers stay the same for every store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from qa.records import Document, Passage

if TYPE_CHECKING:
    from qa.store import Manifest

QDRANT_SCHEME = "qdrant://"
REMOTE_PREFIXES = (QDRANT_SCHEME, "qdrants://", "qdrant+path:")  # a server (http, https) or local mode in a folder


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

    manifest: "Manifest"
    version: str
    passages: Sequence[Passage]  # by row
    documents: Mapping[str, Document]  # by name

    def candidates(self, question: str, vector: np.ndarray, depth: int) -> Candidates:
        """Up to `depth` dense neighbours of `vector` and up to `depth` BM25 matches of `question`."""

    def sentence_similarities(self, passage_id: str, vector: np.ndarray) -> np.ndarray:
        """Cosine of `vector` with each sentence of the passage, in order."""

    def idf(self, token: str) -> float:
        """How rare a lexical token is in the corpus (BM25's idf)."""

    def document_text(self, name: str) -> str: ...

    def close(self) -> None: ...


def is_remote(location: Path | str) -> bool:
    """Whether an index location names a Qdrant collection rather than a folder. Only a `str` can: `Path`
    collapses a URL's "//"."""
    return isinstance(location, str) and location.startswith(REMOTE_PREFIXES)


def index_location(location: Path | str) -> Path | str:
    """A folder as a `Path`, a Qdrant URL kept as the string it is."""
    return location if is_remote(location) else Path(location)


def read_manifest(location: Path | str) -> "Manifest":
    """The manifest of the version readers of `location` would open now."""
    if is_remote(location):
        from qa.qdrant_store import read_manifest as read_remote

        return read_remote(location)
    from qa.store import Manifest

    return Manifest.read(location)


def current_version(location: Path | str) -> str | None:
    """The version readers of `location` would open now (None: no index), cheap enough to poll."""
    if is_remote(location):
        from qa.qdrant_store import current_version as remote_version

        return remote_version(location)
    from qa.versions import current_version as folder_version

    return folder_version(location)


def open_store(location: Path | str) -> PassageStore:
    """The store at `location`: a folder (FAISS) or a Qdrant URL (`qa.qdrant_store.URL_FORMS`)."""
    if is_remote(location):
        from qa.qdrant_store import QdrantStore

        return QdrantStore.load(str(location))
    from qa.store import IndexStore

    return IndexStore.load(location)
