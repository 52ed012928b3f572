"""Stage 4: the on-disk index — FAISS vectors, passage store, sentence vectors and a manifest.

An index folder holds:
  manifest.json    format version, model, dimension, seed hashes, chunking, counts, file sizes, build time
  documents.jsonl  each document's text as read (citations quote it)
  passages.jsonl   passages with their sentences and spans
  passages.faiss   inner-product index over normalised passage vectors
  sentences.npy    normalised sentence vectors, in passage order
It is written into a temporary sibling folder and renamed into place, so readers never see a half-written index.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import faiss
import numpy as np

from qa.documents import read_documents, seed_files
from qa.embeddings import Embedder, canonical_model_name, configured_model
from qa.errors import IndexCorruptError, IndexMismatchError, IndexNotFoundError, SeedsNotFoundError
from qa.passages import ChunkingSettings, split_documents
from qa.records import Document, Passage
from qa.settings import RetrievalSettings

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DATA_FILES = ("documents.jsonl", "passages.jsonl", "passages.faiss", "sentences.npy")
EXACT_SEARCH_LIMIT = 200_000  # above this many passages an HNSW graph replaces exact search


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
    files: dict[str, int]  # data file → size in bytes, to catch truncation
    built_at: str
    build_seconds: float
    retrieval: dict = field(default_factory=dict)  # RetrievalSettings the index answers with (empty: defaults)
    passage_prompt: str | None = None  # the prompt passages were embedded with: part of what a vector is of

    @classmethod
    def read(cls, index_dir: Path) -> "Manifest":
        path = Path(index_dir) / MANIFEST
        if not path.exists():
            if Path(index_dir).is_dir() and any(Path(index_dir).iterdir()):
                raise IndexCorruptError(f"{path} is missing, so {index_dir} is not a usable index. "
                                        + rebuild_hint(index_dir))
            raise IndexNotFoundError(f"No index in {index_dir}. Build it with: qa index --index {index_dir}")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            manifest = cls(**data)
        except (ValueError, TypeError) as error:
            raise IndexCorruptError(f"{path} is unreadable ({error}). " + rebuild_hint(index_dir)) from error
        if manifest.format_version != FORMAT_VERSION:
            raise IndexMismatchError(f"{index_dir} has index format {manifest.format_version}, this version of qa "
                                     f"reads format {FORMAT_VERSION}. " + rebuild_hint(index_dir))
        return manifest


@dataclass(frozen=True)
class IndexStatus:
    state: str  # "missing", "stale", "incompatible" or "fresh"
    reason: str

    @property
    def fresh(self) -> bool:
        return self.state == "fresh"


@dataclass(frozen=True)
class BuildReport:
    status: str  # "built" or "up-to-date"
    index_dir: str
    model: str
    documents: int
    passages: int
    sentences: int
    embedded_texts: int  # distinct passage and sentence texts embedded by this build
    reused_texts: int  # distinct texts whose vectors came from the previous index (same text, model and prompt)
    seconds: float
    reason: str = ""


@dataclass
class IndexStore:
    """A loaded index: everything retrieval needs, without the model."""

    manifest: Manifest
    documents: dict[str, Document]
    passages: list[Passage]
    passage_index: faiss.Index
    sentence_vectors: np.ndarray
    sentence_owner: np.ndarray = field(init=False)  # sentence row → passage row
    sentence_offsets: np.ndarray = field(init=False)  # passage row → first sentence row (length n+1)
    row_of: dict[str, int] = field(init=False)  # passage id → row

    def __post_init__(self) -> None:
        self.row_of = {p.id: row for row, p in enumerate(self.passages)}
        counts = np.array([len(p.sentences) for p in self.passages], dtype=np.int64)
        self.sentence_offsets = np.concatenate([[0], np.cumsum(counts)])
        self.sentence_owner = np.repeat(np.arange(len(self.passages)), counts)

    @classmethod
    def load(cls, index_dir: Path | str) -> "IndexStore":
        index_dir = Path(index_dir)
        manifest = Manifest.read(index_dir)
        for name in DATA_FILES:
            path = index_dir / name
            if not path.exists():
                raise IndexCorruptError(f"{path} is missing. " + rebuild_hint(index_dir))
            if path.stat().st_size != manifest.files.get(name):
                raise IndexCorruptError(f"{path} is truncated or altered ({path.stat().st_size} bytes, the manifest "
                                        f"says {manifest.files.get(name)}). " + rebuild_hint(index_dir))
        try:
            documents = {d["name"]: Document(**d) for d in _read_jsonl(index_dir / "documents.jsonl")}
            passages = [Passage.from_dict(p) for p in _read_jsonl(index_dir / "passages.jsonl")]
            passage_index = faiss.read_index(str(index_dir / "passages.faiss"))
            sentence_vectors = np.load(index_dir / "sentences.npy")
        except (ValueError, TypeError, KeyError, RuntimeError) as error:
            raise IndexCorruptError(f"{index_dir} is unreadable ({error}). " + rebuild_hint(index_dir)) from error
        store = cls(manifest, documents, passages, passage_index, sentence_vectors)
        store.check_consistency(index_dir)
        return store

    def check_consistency(self, index_dir: Path) -> None:
        expected = (len(self.passages), int(self.sentence_offsets[-1]), self.manifest.dimension)
        found = (self.passage_index.ntotal, self.sentence_vectors.shape[0], self.passage_index.d)
        if expected != found or self.sentence_vectors.shape[1:] != (self.manifest.dimension,):
            raise IndexCorruptError(f"{index_dir} is inconsistent: passages/sentences/dimension {expected} but "
                                    f"vectors {found}. " + rebuild_hint(index_dir))

    def passage_vectors(self) -> np.ndarray:
        return self.passage_index.reconstruct_n(0, self.passage_index.ntotal)

    def document_text(self, name: str) -> str:
        return self.documents[name].text


def seed_hashes(seeds_dir: Path) -> dict[str, str]:
    seeds_dir = Path(seeds_dir)
    return {p.relative_to(seeds_dir).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in seed_files(seeds_dir)}


def index_status(seeds_dir: Path, index_dir: Path, model: str | None = None,
                 settings: ChunkingSettings = ChunkingSettings(), hashes: dict[str, str] | None = None) -> IndexStatus:
    """Whether `index_dir` is a current index of `seeds_dir` (cheap: hashes files, loads no model)."""
    try:
        manifest = Manifest.read(Path(index_dir))
    except IndexNotFoundError:
        return IndexStatus("missing", f"no index in {index_dir}")
    except (IndexCorruptError, IndexMismatchError) as error:
        return IndexStatus("incompatible", str(error))
    model_name = canonical_model_name(configured_model(model))
    if manifest.model != model_name:
        return IndexStatus("incompatible", f"built with {manifest.model}, asked for {model_name}")
    if manifest.chunking.get("fingerprint") != settings.fingerprint():
        return IndexStatus("stale", "the chunking settings changed")
    current = seed_hashes(seeds_dir) if hashes is None else hashes
    if current != manifest.seeds:
        changed = sorted(set(current) ^ set(manifest.seeds) | {n for n in current if manifest.seeds.get(n) not in
                                                                (None, current[n])})
        return IndexStatus("stale", "seeds changed: " + ", ".join(changed))
    return IndexStatus("fresh", f"up to date with {len(current)} seed file(s)")


def current_version(index_dir: Path | str) -> str | None:
    """The id of the index version readers would open now (cheap: no data is read); None when there is no index.
    A change of this id is how a long-running reader learns that a rebuild finished."""
    path = Path(index_dir) / MANIFEST
    try:
        stat = path.stat()
    except OSError:
        return None
    return f"{stat.st_mtime_ns}-{stat.st_size}"


def saved_retrieval_settings(index_dir: Path | str) -> RetrievalSettings:
    """The retrieval settings an existing index answers with; defaults when there is none (or it is unreadable)."""
    try:
        return RetrievalSettings.from_dict(Manifest.read(Path(index_dir)).retrieval)
    except (IndexNotFoundError, IndexCorruptError, IndexMismatchError):
        return RetrievalSettings()


def build_index(seeds_dir: Path | str, index_dir: Path | str, model: str | None = None, *,
                settings: ChunkingSettings = ChunkingSettings(), retrieval: RetrievalSettings | None = None,
                embedder: Embedder | None = None, force: bool = False, show_progress: bool = False,
                log: Callable[[str], None] = lambda message: None) -> BuildReport:
    """Build or refresh the index; a fresh index is left alone, and every text embedded before with the same model
    and prompt keeps its vector (reuse is keyed by the exact text, never by position).

    `retrieval` is saved in the manifest for readers; None keeps the settings the old index had, else defaults.
    `force` rebuilds from scratch, reusing nothing."""
    started = time.perf_counter()
    seeds_dir, index_dir = Path(seeds_dir), Path(index_dir)
    model_name = embedder.name if embedder else canonical_model_name(configured_model(model))
    hashes = seed_hashes(seeds_dir)
    status = index_status(seeds_dir, index_dir, model_name, settings, hashes)
    if status.fresh and not force:
        manifest = Manifest.read(index_dir)
        if retrieval is None or retrieval.to_dict() == manifest.retrieval:
            return BuildReport("up-to-date", str(index_dir), manifest.model, manifest.counts["documents"],
                               manifest.counts["passages"], manifest.counts["sentences"], 0, 0,
                               time.perf_counter() - started, status.reason)
        status = IndexStatus("stale", "the retrieval settings changed")
    documents = read_documents(seeds_dir)
    if not documents:
        raise SeedsNotFoundError(f"No readable .txt or .md document in {seeds_dir}.")
    passages = split_documents(documents, settings)
    log(f"{len(documents)} document(s) → {len(passages)} passages; {status.reason}")
    embedder = embedder or Embedder.load(model_name)
    old = _previous_index(index_dir)
    retrieval = retrieval or RetrievalSettings.from_dict(old.manifest.retrieval if old else None)
    reusable = _reusable_vectors(old, embedder) if old is not None and not force else {}
    passage_vectors, sentence_vectors, embedded, reused = _embed(passages, reusable, embedder, show_progress)
    seconds = time.perf_counter() - started
    manifest = Manifest(
        format_version=FORMAT_VERSION, model=embedder.name, dimension=embedder.dimension,
        seeds=hashes, chunking={**asdict(settings), "fingerprint": settings.fingerprint()},
        counts={"documents": len(documents), "passages": len(passages), "sentences": len(sentence_vectors)},
        index_type="", files={}, built_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        build_seconds=round(seconds, 3), retrieval=retrieval.to_dict(), passage_prompt=embedder.passage_prompt)
    write_index(index_dir, manifest, documents, passages, passage_vectors, sentence_vectors)
    return BuildReport("built", str(index_dir), embedder.name, len(documents), len(passages), len(sentence_vectors),
                       embedded, reused, time.perf_counter() - started, status.reason)


def _embed(passages: list[Passage], reusable: dict[str, np.ndarray], embedder: Embedder,
           show_progress: bool) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Vectors for all passages and sentences, computing only texts with no reusable vector (each text once)."""
    passage_texts = [p.text for p in passages]
    sentence_texts = [s.text for p in passages for s in p.sentences]
    distinct = dict.fromkeys(passage_texts + sentence_texts)
    todo = [t for t in distinct if t not in reusable]
    vectors = dict(zip(todo, embedder.encode_passages(todo, show_progress=show_progress)))

    def stack(texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, embedder.dimension), dtype=np.float32)
        return np.stack([vectors[t] if t in vectors else reusable[t] for t in texts]).astype(np.float32)

    return stack(passage_texts), stack(sentence_texts), len(todo), len(distinct) - len(todo)


def _previous_index(index_dir: Path) -> IndexStore | None:
    try:
        return IndexStore.load(index_dir)
    except (IndexNotFoundError, IndexCorruptError, IndexMismatchError):
        return None


def _reusable_vectors(old: IndexStore, embedder: Embedder) -> dict[str, np.ndarray]:
    """Exact embedded text → its vector in the previous index, when that index used the same model and prompt."""
    if old.manifest.model != embedder.name or old.manifest.passage_prompt != embedder.passage_prompt:
        return {}
    reusable = dict(zip((p.text for p in old.passages), old.passage_vectors()))
    reusable.update(zip((s.text for p in old.passages for s in p.sentences), old.sentence_vectors))
    return reusable


def make_faiss_index(vectors: np.ndarray) -> faiss.Index:
    """Exact inner product while the corpus is small; an HNSW graph (approximate) for large corpora."""
    dim = vectors.shape[1]
    index = faiss.IndexFlatIP(dim) if len(vectors) <= EXACT_SEARCH_LIMIT else \
        faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
    index.add(vectors)
    return index


def write_index(index_dir: Path, manifest: Manifest, documents: list[Document], passages: list[Passage],
                passage_vectors: np.ndarray, sentence_vectors: np.ndarray) -> None:
    """Write into a temporary sibling folder, then swap it in with renames: never a half-written index."""
    index_dir = Path(index_dir)
    index_dir.parent.mkdir(parents=True, exist_ok=True)
    temporary = index_dir.parent / f".{index_dir.name}.building-{uuid.uuid4().hex[:8]}"
    temporary.mkdir()
    try:
        _write_jsonl(temporary / "documents.jsonl", [asdict(d) for d in documents])
        _write_jsonl(temporary / "passages.jsonl", [p.to_dict() for p in passages])
        faiss_index = make_faiss_index(passage_vectors)
        faiss.write_index(faiss_index, str(temporary / "passages.faiss"))
        with open(temporary / "sentences.npy", "wb") as handle:
            np.save(handle, sentence_vectors)
        files = {name: (temporary / name).stat().st_size for name in DATA_FILES}
        final = Manifest(**{**asdict(manifest), "files": files, "index_type": type(faiss_index).__name__})
        (temporary / MANIFEST).write_text(json.dumps(asdict(final), ensure_ascii=False, indent=2), encoding="utf-8")
        for name in (*DATA_FILES, MANIFEST):
            _fsync(temporary / name)
        _swap_in(temporary, index_dir)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def _swap_in(temporary: Path, index_dir: Path) -> None:
    if index_dir.exists():
        retired = index_dir.parent / f".{index_dir.name}.replaced-{uuid.uuid4().hex[:8]}"
        os.rename(index_dir, retired)
        try:
            os.rename(temporary, index_dir)
        except OSError:
            os.rename(retired, index_dir)  # put the old index back rather than leave none
            raise
        shutil.rmtree(retired, ignore_errors=True)
    else:
        os.rename(temporary, index_dir)


def _fsync(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def _read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]

