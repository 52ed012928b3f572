"""The on-disk index format: one version folder's files, how they are written and how they are opened.

A version folder (see `qa.versions` for the folders around it) holds:
  manifest.json    format version, model, dimension, seed hashes, chunking, retrieval settings, counts, file sizes
  documents.jsonl  each document's text as read (citations quote it)
  passages.jsonl   passages with their sentences and spans
  passages.faiss   inner-product index over normalised passage vectors (memory-mapped when opened)
  sentences.npy    normalised sentence vectors, in passage order (memory-mapped when opened)
  lexical/         the BM25 index over the passages (`qa.lexical`, memory-mapped when opened)
Every file is fsync'd before the version is published, and its size is in the manifest to catch truncation.
"""

from __future__ import annotations

import json
import os
import weakref
from dataclasses import asdict, dataclass, field
from pathlib import Path

import faiss
import numpy as np

from qa import versions
from qa.errors import IndexCorruptError, IndexMismatchError, IndexNotFoundError
from qa.lexical import LexicalIndex
from qa.records import Document, Passage
from qa.settings import RetrievalSettings

FORMAT_VERSION = 2  # 2: versioned folders behind CURRENT, persisted BM25, memory-mapped vectors
MANIFEST = "manifest.json"
LEXICAL = "lexical"
EXACT_SEARCH_LIMIT = 200_000  # above this many passages an HNSW graph replaces exact search
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
    encoder: str = "sentence-transformers"  # what embedded the passages (qa.quantized): int8 vectors differ slightly

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
    """A loaded index version: everything retrieval needs, without the model.

    It keeps its version pinned (see `qa.versions`) while it lives, so a rebuild never deletes files it reads."""

    manifest: Manifest
    documents: dict[str, Document]
    passages: list[Passage]
    passage_index: faiss.Index
    sentence_vectors: np.ndarray
    lexical: LexicalIndex
    version: str = ""
    pin: versions.Pinned | None = None
    sentence_owner: np.ndarray = field(init=False)  # sentence row → passage row
    sentence_offsets: np.ndarray = field(init=False)  # passage row → first sentence row (length n+1)
    row_of: dict[str, int] = field(init=False)  # passage id → row

    def __post_init__(self) -> None:
        self.row_of = {p.id: row for row, p in enumerate(self.passages)}
        counts = np.array([len(p.sentences) for p in self.passages], dtype=np.int64)
        self.sentence_offsets = np.concatenate([[0], np.cumsum(counts)])
        self.sentence_owner = np.repeat(np.arange(len(self.passages)), counts)
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
            documents = {d["name"]: Document.from_dict(d) for d in _read_jsonl(folder / "documents.jsonl")}
            passages = [Passage.from_dict(p) for p in _read_jsonl(folder / "passages.jsonl")]
            passage_index = faiss.read_index(str(folder / "passages.faiss"), faiss.IO_FLAG_MMAP)
            sentence_vectors = np.load(folder / "sentences.npy", mmap_mode="r")
            lexical = LexicalIndex.load(folder / LEXICAL)
        except (OSError, ValueError, TypeError, KeyError, RuntimeError) as error:
            raise IndexCorruptError(f"{folder} is unreadable ({error}). " + rebuild_hint(index_dir)) from error
        store = cls(manifest, documents, passages, passage_index, sentence_vectors, lexical, pinned.version, pinned)
        store.check_consistency(index_dir)
        return store

    def check_consistency(self, index_dir: Path) -> None:
        expected = (len(self.passages), int(self.sentence_offsets[-1]), self.manifest.dimension, len(self.passages))
        found = (self.passage_index.ntotal, self.sentence_vectors.shape[0], self.passage_index.d, self.lexical.n)
        if expected != found or self.sentence_vectors.shape[1:] != (self.manifest.dimension,):
            raise IndexCorruptError(f"{index_dir} is inconsistent: passages/sentences/dimension/BM25 rows {expected} "
                                    f"but files hold {found}. " + rebuild_hint(index_dir))

    def close(self) -> None:
        """Unpin the version (a later rebuild may then delete it); the store must not be used afterwards."""
        if self.pin is not None:
            self.pin.release()
            self.pin = None

    def passage_vectors(self) -> np.ndarray:
        return self.passage_index.reconstruct_n(0, self.passage_index.ntotal)

    def document_text(self, name: str) -> str:
        return self.documents[name].text


def saved_retrieval_settings(index_dir: Path | str) -> RetrievalSettings:
    """The retrieval settings an existing index answers with; defaults when there is none (or it is unreadable)."""
    try:
        return RetrievalSettings.from_dict(Manifest.read(index_dir).retrieval)
    except (IndexNotFoundError, IndexCorruptError, IndexMismatchError):
        return RetrievalSettings()


def make_faiss_index(vectors: np.ndarray) -> faiss.Index:
    """Exact inner product while the corpus is small; an HNSW graph (approximate) for large corpora."""
    dim = vectors.shape[1]
    index = faiss.IndexFlatIP(dim) if len(vectors) <= EXACT_SEARCH_LIMIT else \
        faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
    index.add(vectors)
    return index


def write_version(folder: Path, manifest: Manifest, documents: list[Document], passages: list[Passage],
                  passage_vectors: np.ndarray, sentence_vectors: np.ndarray) -> Manifest:
    """Write every file of a version into `folder` (a staging folder), fsync'd; the manifest goes last."""
    _write_jsonl(folder / "documents.jsonl", [asdict(d) for d in documents])
    _write_jsonl(folder / "passages.jsonl", [p.to_dict() for p in passages])
    faiss_index = make_faiss_index(passage_vectors)
    faiss.write_index(faiss_index, str(folder / "passages.faiss"))
    with open(folder / "sentences.npy", "wb") as handle:
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


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def _read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]
