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
    embedded_passages: int  # passages whose vectors were computed in this build (others were reused)
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


def build_index(seeds_dir: Path | str, index_dir: Path | str, model: str | None = None, *,
                settings: ChunkingSettings = ChunkingSettings(), embedder: Embedder | None = None,
                force: bool = False, show_progress: bool = False,
                log: Callable[[str], None] = lambda message: None) -> BuildReport:
    """Build or refresh the index; a fresh index is left alone and vectors of unchanged documents are reused."""
    started = time.perf_counter()
    seeds_dir, index_dir = Path(seeds_dir), Path(index_dir)
    model_name = embedder.name if embedder else canonical_model_name(configured_model(model))
    hashes = seed_hashes(seeds_dir)
    status = index_status(seeds_dir, index_dir, model_name, settings, hashes)
    if status.fresh and not force:
        manifest = Manifest.read(index_dir)
        return BuildReport("up-to-date", str(index_dir), manifest.model, manifest.counts["documents"],
                           manifest.counts["passages"], manifest.counts["sentences"], 0,
                           time.perf_counter() - started, status.reason)
    documents = read_documents(seeds_dir)
    if not documents:
        raise SeedsNotFoundError(f"No readable .txt or .md document in {seeds_dir}.")
    passages = split_documents(documents, settings)
    log(f"{len(documents)} document(s) → {len(passages)} passages; {status.reason}")
    embedder = embedder or Embedder.load(model_name)
    reusable = {} if force else _reusable_vectors(index_dir, embedder.name, settings)
    passage_vectors, sentence_vectors, embedded = _embed(passages, documents, reusable, embedder, show_progress)
    seconds = time.perf_counter() - started
    manifest = Manifest(
        format_version=FORMAT_VERSION, model=embedder.name, dimension=embedder.dimension,
        seeds=hashes, chunking={**asdict(settings), "fingerprint": settings.fingerprint()},
        counts={"documents": len(documents), "passages": len(passages), "sentences": len(sentence_vectors)},
        index_type="", files={}, built_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        build_seconds=round(seconds, 3))
    write_index(index_dir, manifest, documents, passages, passage_vectors, sentence_vectors)
    return BuildReport("built", str(index_dir), embedder.name, len(documents), len(passages), len(sentence_vectors),
                       embedded, time.perf_counter() - started, status.reason)


def _embed(passages: list[Passage], documents: list[Document], reusable: dict[str, tuple[np.ndarray, np.ndarray]],
           embedder: Embedder, show_progress: bool) -> tuple[np.ndarray, np.ndarray, int]:
    """Vectors for all passages and sentences, computing only those of new or changed documents."""
    dim = embedder.dimension
    passage_vectors = np.zeros((len(passages), dim), dtype=np.float32)
    sentence_blocks: list[np.ndarray] = []
    document_keys = {d.name: f"{d.name}:{d.sha256}" for d in documents}
    todo = [i for i, p in enumerate(passages) if document_keys[p.document] not in reusable]
    todo_set = set(todo)
    fresh_passages = embedder.encode_passages([passages[i].text for i in todo], show_progress=show_progress)
    fresh_sentences = embedder.encode_passages(
        [s.text for i in todo for s in passages[i].sentences], show_progress=show_progress)
    cursors = {"passage": 0, "sentence": 0}
    reuse_cursor: dict[str, list[int]] = {}
    for i, passage in enumerate(passages):
        n = len(passage.sentences)
        if i in todo_set:
            passage_vectors[i] = fresh_passages[cursors["passage"]]
            sentence_blocks.append(fresh_sentences[cursors["sentence"]:cursors["sentence"] + n])
            cursors["passage"] += 1
            cursors["sentence"] += n
        else:
            old_passages, old_sentences = reusable[document_keys[passage.document]]
            p, s = reuse_cursor.setdefault(passage.document, [0, 0])
            passage_vectors[i] = old_passages[p]
            sentence_blocks.append(old_sentences[s:s + n])
            reuse_cursor[passage.document] = [p + 1, s + n]
    sentence_vectors = np.concatenate(sentence_blocks) if sentence_blocks else np.zeros((0, dim), np.float32)
    return passage_vectors, sentence_vectors.astype(np.float32), len(todo)


def _reusable_vectors(index_dir: Path, model_name: str,
                      settings: ChunkingSettings) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per unchanged document, its passage and sentence vectors from the previous index (same model and chunking)."""
    try:
        old = IndexStore.load(index_dir)
    except (IndexNotFoundError, IndexCorruptError, IndexMismatchError):
        return {}
    if old.manifest.model != model_name or old.manifest.chunking.get("fingerprint") != settings.fingerprint():
        return {}
    vectors = old.passage_vectors()
    rows_of: dict[str, list[int]] = {name: [] for name in old.documents}
    for row, passage in enumerate(old.passages):  # one pass: documents' passages are grouped, in order
        rows_of[passage.document].append(row)
    reusable = {}
    for document in old.documents.values():
        rows = rows_of[document.name]
        sentences = slice(old.sentence_offsets[rows[0]], old.sentence_offsets[rows[-1] + 1]) if rows else slice(0, 0)
        reusable[f"{document.name}:{document.sha256}"] = (vectors[rows], old.sentence_vectors[sentences])
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

