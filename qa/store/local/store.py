"""The on-disk index format: one version folder's files, how they are written and how they are opened.

A version folder (see `qa.store.local.versions` for the folders around it) holds:
  manifest.json    format version, model, dimension, seed hashes, chunking, retrieval settings, counts, file sizes
  texts.sqlite     documents (each text as read: citations quote it) and passages with sentences and spans,
                   read row by row (`qa.store.local.tables`)
  passages.faiss   inner-product index over normalised passage vectors (memory-mapped)
  passage_vectors.npy  the same vectors in full precision, by row (read with pread: `qa.store.local.vector_file`)
  sentences.npy    normalised sentence vectors, in passage order (read with pread)
  sentence_offsets.npy  passage row → its first sentence's row (n + 1 entries, memory-mapped)
  lexical/         the BM25 index over the passages (`qa.store.lexical`, memory-mapped when opened)
Every file is fsync'd before the version is published, and its size is in the manifest to catch truncation.
Opening a version reads no passage: a million of them open in well under a second (`make bench-scale`).
"""

from __future__ import annotations

import json
import os
import sqlite3
import weakref
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import faiss
import numpy as np

from qa.store.local import versions
from qa.store.base import Candidates
from qa.errors import IndexCorruptError, IndexMismatchError, IndexNotFoundError
from qa.store.lexical import LexicalIndex
from qa.records import Document, Passage
from qa.store.local.tables import TABLES, DocumentTable, PassageTable, TableConnection, open_tables, write_tables
from qa.store.local.vector_file import VectorFile

FORMAT_VERSION = 3  # 2: versioned folders, persisted BM25, memory-mapped vectors; 3: SQLite passage store
MANIFEST = "manifest.json"
LEXICAL = "lexical"
PASSAGE_INDEX = "passages.faiss"
SENTENCES = "sentences.npy"
SENTENCE_OFFSETS = "sentence_offsets.npy"
EXACT_SEARCH_LIMIT = 200_000  # above this many passages an IVF index replaces exact search
IVF_LISTS_PER_ROOT = 2  # clusters: 2·√n (2,000 at a million passages)…
IVF_POINTS_PER_LIST = 39  # …but at least 39 passages each (FAISS's k-means minimum)
IVF_TRAINING_POINTS = 40  # k-means sample per cluster
IVF_PROBED_SHARE = 0.10  # clusters searched per question (`make bench-scale` chose it: recall@10 ≥ 0.95 at 1M)
PASSAGE_VECTORS = "passage_vectors.npy"
LEGACY_FILES = ("manifest.json", "documents.jsonl", "passages.jsonl", "passages.faiss", "sentences.npy")


def rebuild_hint(index_dir: Path) -> str:
    return f"Rebuild it with: qa index --index {index_dir} --force"


@dataclass(frozen=True)
class Manifest:
    format_version: int
    model: str
    dimension: int
    seeds: dict[str, str]  # seed file name → sha256 of its bytes
    chunking: dict
    counts: dict[str, int]
    index_type: str
    files: dict[str, int]  # data file (relative path) → size in bytes, to catch truncation
    built_at: str
    build_seconds: float
    retrieval: dict = field(default_factory=dict)  # RetrievalSettings the index answers with (empty: defaults)
    passage_prompt: str | None = None  # the prompt passages were embedded with: part of what a vector is of
    encoder: str = "sentence-transformers"  # what embedded the passages (qa.embedding.quantized): int8 vectors differ slightly

    @classmethod
    def read(cls, index_dir: Path | str) -> "Manifest":
        """The manifest of the version readers would open now."""
        pinned = open_version(index_dir)
        try:
            return cls.read_version(pinned.path, Path(index_dir))
        finally:
            pinned.release()

    @classmethod
    def read_version(cls, folder: Path, index_dir: Path) -> "Manifest":
        path = folder / MANIFEST
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            manifest = cls(**data)
        except (OSError, ValueError, TypeError) as error:
            raise IndexCorruptError(f"{path} is unreadable ({error}). " + rebuild_hint(index_dir)) from error
        if manifest.format_version != FORMAT_VERSION:
            raise IndexMismatchError(f"{index_dir} has index format {manifest.format_version}, this version of qa "
                                     f"reads format {FORMAT_VERSION}. " + rebuild_hint(index_dir))
        return manifest


def open_version(index_dir: Path | str) -> versions.Pinned:
    """Pin the current version of `index_dir`, or say clearly why there is none."""
    index_dir = Path(index_dir)
    pinned = versions.pin_current(index_dir, MANIFEST)
    if pinned is not None:
        return pinned
    if (index_dir / MANIFEST).exists():
        raise IndexMismatchError(f"{index_dir} was built by an older version of qa (format 1). "
                                 + rebuild_hint(index_dir))
    if versions.current_version(index_dir) is not None:
        raise IndexCorruptError(f"{index_dir}/{versions.POINTER} names a version that is missing. "
                                + rebuild_hint(index_dir))
    raise IndexNotFoundError(f"No index in {index_dir}. Build it with: qa index --index {index_dir}")


@dataclass
class IndexStore:
    """A loaded FAISS index version (`qa.store.base.PassageStore`): passages and documents read from SQLite when
    asked for, the FAISS index and BM25 memory-mapped, candidates' vectors read with pread.

    It keeps its version pinned (see `qa.store.local.versions`) while it lives, so a rebuild never deletes files it reads."""

    manifest: Manifest
    documents: DocumentTable
    passages: PassageTable
    passage_index: faiss.Index  # finds the candidates
    vector_file: VectorFile  # passage vectors by row: the candidates' exact cosines
    sentence_file: VectorFile  # sentence vectors, in passage order
    sentence_offsets: np.ndarray  # passage row → first sentence row (length n+1)
    lexical: LexicalIndex
    version: str = ""
    pin: versions.Pinned | None = None
    connection: TableConnection | None = None

    def __post_init__(self) -> None:
        if self.pin is not None:  # unpinned when the store is garbage-collected, if nobody called close()
            weakref.finalize(self, self.pin.release)

    @classmethod
    def load(cls, index_dir: Path | str) -> "IndexStore":
        """Open the version CURRENT names (resolved once): the old build or the new one, never a mix."""
        index_dir = Path(index_dir)
        pinned = open_version(index_dir)
        try:
            return cls.load_version(pinned, index_dir)
        except BaseException:
            pinned.release()
            raise

    @classmethod
    def load_version(cls, pinned: versions.Pinned, index_dir: Path) -> "IndexStore":
        folder = pinned.path
        manifest = Manifest.read_version(folder, index_dir)
        for name, size in manifest.files.items():
            path = folder / name
            if not path.exists():
                raise IndexCorruptError(f"{path} is missing. " + rebuild_hint(index_dir))
            if path.stat().st_size != size:
                raise IndexCorruptError(f"{path} is truncated or altered ({path.stat().st_size} bytes, the manifest "
                                        f"says {size}). " + rebuild_hint(index_dir))
        try:
            documents, passages, connection = open_tables(folder / TABLES, manifest.counts["passages"])
            passage_index = faiss.read_index(str(folder / PASSAGE_INDEX), faiss.IO_FLAG_MMAP)
            passage_vectors = VectorFile(folder / PASSAGE_VECTORS)
            sentence_vectors = VectorFile(folder / SENTENCES)
            offsets = np.load(folder / SENTENCE_OFFSETS, mmap_mode="r")
            lexical = LexicalIndex.load(folder / LEXICAL)
        except (OSError, ValueError, TypeError, KeyError, RuntimeError, sqlite3.Error) as error:
            raise IndexCorruptError(f"{folder} is unreadable ({error}). " + rebuild_hint(index_dir)) from error
        store = cls(manifest, documents, passages, passage_index, passage_vectors, sentence_vectors, offsets, lexical,
                    pinned.version, pinned, connection)
        store.check_consistency(index_dir)
        return store

    def check_consistency(self, index_dir: Path) -> None:
        n = self.manifest.counts["passages"]
        expected = (n, n, n + 1, int(self.sentence_offsets[-1]) if len(self.sentence_offsets) else 0,
                    self.manifest.dimension, n)
        found = (self.passage_index.ntotal, len(self.vectors), len(self.sentence_offsets),
                 self.sentence_vectors.shape[0], self.passage_index.d, self.lexical.n)
        dimensions = {self.sentence_vectors.shape[1:], self.vectors.shape[1:]}
        if expected != found or dimensions != {(self.manifest.dimension,)}:
            raise IndexCorruptError(f"{index_dir} is inconsistent: passages/vectors/offsets/sentences/dimension/BM25 rows "
                                    f"{expected} but files hold {found}. " + rebuild_hint(index_dir))

    @property
    def vectors(self) -> np.ndarray:
        """Every passage vector (memory-mapped: read only what is used)."""
        return self.vector_file.array

    @property
    def sentence_vectors(self) -> np.ndarray:
        return self.sentence_file.array

    def close(self) -> None:
        """Unpin the version (a later rebuild may then delete it); the store must not be used afterwards."""
        if self.connection is not None:
            self.connection.close()
            self.connection = None
        self.vector_file.close()
        self.sentence_file.close()
        if self.pin is not None:
            self.pin.release()
            self.pin = None

    def candidates(self, question: str, vector: np.ndarray, depth: int) -> Candidates:
        n = len(self.passages)
        depth = min(n, depth)
        if depth == 0:
            return Candidates.none()
        _, dense_rows = search_one(self.passage_index, vector, depth)
        lexical = self.lexical.scores(question)
        rows = np.union1d(dense_rows[0][dense_rows[0] >= 0], top_rows(lexical, depth))
        best_sentence, sentence = self._sentence_scores(vector, rows)
        return Candidates(rows, self.passages.languages(rows), self._dense_scores(vector, rows), sentence,
                          best_sentence, lexical[rows])

    def _dense_scores(self, vector: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Exact cosines (the ANN index's own scores are approximate for quantised or graph indexes)."""
        return self.vector_file.rows(rows) @ vector

    def _sentence_scores(self, vector: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each passage row: the index of its best sentence and that sentence's cosine (-1 when it has none),
        from one gather and one product over all the candidates' sentences."""
        starts, ends = self.sentence_offsets[rows], self.sentence_offsets[rows + 1]
        counts = ends - starts
        best_index = np.zeros(len(rows), dtype=np.int64)
        best_score = np.full(len(rows), -1.0, dtype=np.float32)
        has = counts > 0
        if not has.any():
            return best_index, best_score
        owner = np.repeat(np.arange(len(rows)), counts)
        positions = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        scores = self.sentence_file.gather(starts, counts) @ vector
        order = np.lexsort((-scores, owner))  # per candidate, its best sentence first
        first = np.flatnonzero(np.r_[True, owner[order][1:] != owner[order][:-1]])
        winners = order[first]
        best_index[owner[winners]] = positions[winners]
        best_score[owner[winners]] = scores[winners]
        return best_index, best_score

    def sentence_similarities(self, passage_id: str, vector: np.ndarray) -> np.ndarray:
        row = self.passages.row_of(passage_id)
        start, end = self.sentence_offsets[row], self.sentence_offsets[row + 1]
        return self.sentence_file.gather(np.array([start]), np.array([end - start])) @ vector

    def idf(self, token: str) -> float:
        return self.lexical.idf(token)

    def attainable_lexical(self, question: str) -> float:
        return self.lexical.attainable(question)

    def passage_vectors(self) -> np.ndarray:
        return np.asarray(self.vectors)

    def document_text(self, name: str) -> str:
        return self.documents[name].text


def search_one(index: faiss.Index, vector: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """One question's FAISS search, on one thread: FAISS's OpenMP threads spin-wait for each other, and on a busy
    two-core machine one question over 10,000 passages took 30 ms on two threads against 3.6 ms on one."""
    faiss.omp_set_num_threads(1)
    return index.search(np.ascontiguousarray(vector[None, :], dtype=np.float32), depth)


def top_rows(scores: np.ndarray, depth: int) -> np.ndarray:
    """Rows of the `depth` highest positive scores (any order): a partition over the matches, not a full sort,
    because a question's words match a small part of a large corpus."""
    matched = np.flatnonzero(scores > 0)
    if len(matched) <= depth:
        return matched
    return matched[np.argpartition(-scores[matched], depth - 1)[:depth]]


def make_faiss_index(vectors: np.ndarray, kind: str = "auto") -> faiss.Index:
    """Exact inner product ("exact"), or an inverted-file index that searches a few clusters ("approximate");
    "auto" is exact up to EXACT_SEARCH_LIMIT passages. Why IVF and not HNSW: it trains and adds a million vectors
    in minutes on two cores, opens memory-mapped in milliseconds, and its recall is set by one number (nprobe,
    saved in the file). Its lists hold 8-bit scalar-quantised vectors: a quarter of the bytes to scan and to keep
    in memory, so twice the clusters can be searched in the same time (`make bench-scale`: at a million passages,
    recall@10 0.968 in 10.9 ms against 0.962 in 12.0 ms for full-precision lists searching half as many clusters).
    Candidates' scores are recomputed exactly afterwards from the fp32 vectors, so only the candidate set is
    approximate."""
    if kind not in ("auto", "exact", "approximate"):
        raise ValueError(f"unknown FAISS index kind {kind!r}")
    faiss.omp_set_num_threads(os.cpu_count() or 1)  # building uses every core (questions use one: search_one)
    dim = vectors.shape[1]
    if kind == "exact" or (kind == "auto" and len(vectors) <= EXACT_SEARCH_LIMIT):
        index = faiss.IndexFlatIP(dim)
        index.add(vectors)
        return index
    lists = max(1, min(len(vectors) // IVF_POINTS_PER_LIST, int(IVF_LISTS_PER_ROOT * np.sqrt(len(vectors)))))
    index = faiss.IndexIVFScalarQuantizer(faiss.IndexFlatIP(dim), dim, lists, faiss.ScalarQuantizer.QT_8bit,
                                          faiss.METRIC_INNER_PRODUCT)
    index.cp.niter = 10
    sample = np.random.default_rng(0).choice(len(vectors), min(len(vectors), IVF_TRAINING_POINTS * lists),
                                             replace=False)
    index.train(vectors[np.sort(sample)])
    index.add(vectors)
    index.nprobe = min(lists, max(1, int(np.ceil(lists * IVF_PROBED_SHARE))))
    return index


def write_version(folder: Path, manifest: Manifest, documents: Sequence[Document], passages: Sequence[Passage],
                  passage_vectors: np.ndarray, sentence_vectors: np.ndarray, kind: str = "auto") -> Manifest:
    """Write every file of a version into `folder` (a staging folder), fsync'd; the manifest goes last. `kind`
    chooses the FAISS index (`make_faiss_index`)."""
    write_tables(folder / TABLES, documents, passages)
    faiss_index = make_faiss_index(passage_vectors, kind)
    faiss.write_index(faiss_index, str(folder / PASSAGE_INDEX))
    with open(folder / PASSAGE_VECTORS, "wb") as handle:
        np.save(handle, passage_vectors)
    counts = np.array([len(p.sentences) for p in passages], dtype=np.int64)
    np.save(folder / SENTENCE_OFFSETS, np.concatenate([[0], np.cumsum(counts)]).astype(np.int64))
    with open(folder / SENTENCES, "wb") as handle:
        np.save(handle, sentence_vectors)
    LexicalIndex.build([p.text for p in passages]).save(folder / LEXICAL)
    data_files = sorted(p for p in folder.rglob("*") if p.is_file())
    for path in data_files:
        versions.fsync_path(path)
    versions.fsync_path(folder / LEXICAL)
    files = {p.relative_to(folder).as_posix(): p.stat().st_size for p in data_files}
    final = Manifest(**{**asdict(manifest), "files": files, "index_type": type(faiss_index).__name__})
    with open(folder / MANIFEST, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(asdict(final), ensure_ascii=False, indent=2))
        handle.flush()
        os.fsync(handle.fileno())
    return final


def remove_legacy_files(index_dir: Path) -> None:
    """Delete a format-1 index's files from the folder once a versioned build has replaced them."""
    for name in LEGACY_FILES:
        (Path(index_dir) / name).unlink(missing_ok=True)
