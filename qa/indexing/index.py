"""Stage 4: building the index — passages embedded into a new version that is published atomically.

`build_index` is the one writer: it holds the index's writer lock (`Index.writing`), re-embeds only texts it has no
vector for and publishes the version with `Index.publish` (a folder: written, CURRENT switched, versions no reader
has open swept; Qdrant: new collections, alias switched). Which kind of index is `qa.store.location.parse_index`'s
business, decided once per call.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from qa.store.base import Index, PassageStore
from qa.store.location import parse_index
from qa.documents.reading import read_seed, read_seeds, seed_files
from qa.embedding.embeddings import Embedder, canonical_model_name, configured_model
from qa.errors import IndexCorruptError, IndexMismatchError, IndexNotFoundError, SeedsNotFoundError
from qa.documents.passages import ChunkingSettings, split_documents
from qa.embedding.quantized import encoder_name
from qa.records import Passage
from qa.settings import RetrievalSettings
from qa.store.local.store import FORMAT_VERSION, Manifest

__all__ = ["BuildReport", "IndexStatus", "Manifest", "build_index", "current_version", "index_status",
           "manifest_status", "saved_retrieval_settings", "seed_hashes", "status_of"]


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
    version: str = ""  # the version CURRENT names after this call


def seed_hashes(seeds_dir: Path) -> dict[str, str]:
    seeds_dir = Path(seeds_dir)
    return {p.relative_to(seeds_dir).as_posix(): hashlib.sha256(read_seed(p)).hexdigest()
            for p in seed_files(seeds_dir)}


def current_version(index_dir: Path | str | Index) -> str | None:
    """The version readers of `index_dir` (a folder or a Qdrant URL) would open now (None: no index), cheap enough
    to poll."""
    return parse_index(index_dir).current_version()


def index_status(seeds_dir: Path, index_dir: Path | str | Index, model: str | None = None,
                 settings: ChunkingSettings = ChunkingSettings(), hashes: dict[str, str] | None = None) -> IndexStatus:
    """Whether `index_dir` (a folder or a Qdrant URL) is a current index of `seeds_dir` (cheap: hashes files,
    loads no model)."""
    return status_of(seeds_dir, index_dir, model, settings, hashes)[0]


def status_of(seeds_dir: Path, index_dir: Path | str | Index, model: str | None = None,
              settings: ChunkingSettings = ChunkingSettings(),
              hashes: dict[str, str] | None = None) -> tuple[IndexStatus, Manifest | None]:
    """`index_status` and the manifest it judged (None when there is no readable one), read once."""
    index = parse_index(index_dir)
    try:
        manifest = index.read_manifest()
    except IndexNotFoundError:
        return IndexStatus("missing", f"no index in {index}"), None
    except (IndexCorruptError, IndexMismatchError) as error:
        return IndexStatus("incompatible", str(error)), None
    return manifest_status(manifest, seeds_dir, model, settings, hashes), manifest


def manifest_status(manifest: Manifest, seeds_dir: Path, model: str | None = None,
                    settings: ChunkingSettings = ChunkingSettings(),
                    hashes: dict[str, str] | None = None) -> IndexStatus:
    """Whether an index with this manifest is current for `seeds_dir`, `model` and `settings` (a reader that has
    opened a version asks this of the manifest it holds, without reading it again)."""
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


def saved_retrieval_settings(index_dir: Path | str | Index) -> RetrievalSettings:
    """The retrieval settings an existing index (a folder or a Qdrant URL) answers with; the defaults when there is
    none or its manifest is unreadable or of another layout: a rebuild replaces such an index, whatever stores it."""
    try:
        return RetrievalSettings.from_dict(parse_index(index_dir).read_manifest().retrieval)
    except (IndexNotFoundError, IndexCorruptError, IndexMismatchError):
        return RetrievalSettings()


def build_index(seeds_dir: Path | str, index_dir: Path | str | Index, model: str | None = None, *,
                settings: ChunkingSettings = ChunkingSettings(), retrieval: RetrievalSettings | None = None,
                embedder: Embedder | None = None, force: bool = False, wait: float = 0.0, show_progress: bool = False,
                log: Callable[[str], None] = lambda message: None, quantize: str | None = None) -> BuildReport:
    """Build or refresh the index; a fresh index is left alone, and every text embedded before with the same model
    and prompt keeps its vector (reuse is keyed by the exact text, never by position).

    `retrieval` is saved in the manifest for readers; None keeps the settings the old index had, else defaults.
    `force` rebuilds from scratch, reusing nothing. Another build of the same index folder running makes this wait
    up to `wait` seconds, then raise `IndexBusyError`; readers keep the old version until the new one is published.
    A Qdrant URL (`qa.store.qdrant.store`) is built into a new collection its alias then names; no lock spans machines.
    `quantize` ("int8", else $QA_QUANTIZE; see `Embedder.load`) applies when no `embedder` is given."""
    started = time.perf_counter()
    seeds_dir, index = Path(seeds_dir), parse_index(index_dir)
    model_name = embedder.name if embedder else canonical_model_name(configured_model(model))
    encoder = embedder.encoder if embedder and not embedder.queries_only else encoder_name(quantize)
    seed_files(seeds_dir)  # a missing seeds folder is a clear error before anything is created
    if not force and (report := _unchanged(seeds_dir, index, model_name, settings, retrieval, started, encoder)):
        return report
    with index.writing(wait):
        return _build_locked(seeds_dir, index, model_name, settings, retrieval, embedder, force, show_progress,
                             log, started, quantize, encoder)


def _unchanged(seeds_dir: Path, index: Index, model_name: str, settings: ChunkingSettings,
               retrieval: RetrievalSettings | None, started: float, encoder: str) -> BuildReport | None:
    """The report of a call with nothing to do: the index is fresh, keeps its retrieval settings and encoder."""
    status, manifest = status_of(seeds_dir, index, model_name, settings)
    if not status.fresh:
        return None
    if (retrieval is not None and retrieval.to_dict() != manifest.retrieval) or manifest.encoder != encoder:
        return None
    return BuildReport("up-to-date", str(index), manifest.model, manifest.counts["documents"],
                       manifest.counts["passages"], manifest.counts["sentences"], 0, 0,
                       time.perf_counter() - started, status.reason, index.current_version() or "")


def _build_locked(seeds_dir: Path, index: Index, model_name: str, settings: ChunkingSettings,
                  retrieval: RetrievalSettings | None, embedder: Embedder | None, force: bool, show_progress: bool,
                  log: Callable[[str], None], started: float, quantize: str | None, encoder: str) -> BuildReport:
    """Embed a version and publish it (`Index.publish`), holding the index's writer lock."""
    if not force and (report := _unchanged(seeds_dir, index, model_name, settings, retrieval, started, encoder)):
        return report  # the writer we waited for built it
    documents, hashes = read_seeds(seeds_dir)  # one read: the manifest's hashes are of the bytes indexed
    status = index_status(seeds_dir, index, model_name, settings, hashes)
    if not documents:
        raise SeedsNotFoundError(f"No readable document in {seeds_dir}.")
    passages = split_documents(documents, settings)
    log(f"{len(documents)} document(s) → {len(passages)} passages; "
        + (status.reason if not status.fresh else "rebuilding"))
    if embedder is not None and embedder.queries_only:
        embedder = None  # an index is built with the reference model, never with a query-only encoder
    embedder = embedder or Embedder.load(model_name, quantize=quantize, log=log)
    old = _previous_index(index)
    try:
        retrieval = retrieval or RetrievalSettings.from_dict(old.manifest.retrieval if old else None)
        reusable = _reusable_vectors(old, embedder) if old is not None and not force else {}
        passage_vectors, sentence_vectors, embedded, reused = _embed(passages, reusable, embedder, show_progress, log)
    finally:
        if old is not None:
            old.close()  # unpinned, so the sweep below can remove it once no other reader has it
    manifest = Manifest(
        format_version=FORMAT_VERSION, model=embedder.name, dimension=embedder.dimension,
        seeds=hashes, chunking={**asdict(settings), "fingerprint": settings.fingerprint()},
        counts={"documents": len(documents), "passages": len(passages), "sentences": len(sentence_vectors)},
        index_type="", files={}, built_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        build_seconds=round(time.perf_counter() - started, 3), retrieval=retrieval.to_dict(),
        passage_prompt=embedder.passage_prompt, encoder=embedder.encoder)
    version = index.publish(manifest, documents, passages, passage_vectors, sentence_vectors)
    return BuildReport("built", str(index), embedder.name, len(documents), len(passages), len(sentence_vectors),
                       embedded, reused, time.perf_counter() - started, status.reason, version)


def _embed(passages: list[Passage], reusable: dict[str, np.ndarray], embedder: Embedder, show_progress: bool,
           log: Callable[[str], None]) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Vectors for all passages and sentences, computing only texts with no reusable vector (each text once)."""
    passage_texts = [p.text for p in passages]
    sentence_texts = [s.text for p in passages for s in p.sentences]
    distinct = dict.fromkeys(passage_texts + sentence_texts)
    todo = [t for t in distinct if t not in reusable]
    if todo:
        log(f"Embedding {len(todo)} new text(s) with {embedder.name}…")
    vectors = dict(zip(todo, embedder.encode_passages(todo, show_progress=show_progress)))

    def stack(texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, embedder.dimension), dtype=np.float32)
        return np.stack([vectors[t] if t in vectors else reusable[t] for t in texts]).astype(np.float32)

    return stack(passage_texts), stack(sentence_texts), len(todo), len(distinct) - len(todo)


def _previous_index(index: Index) -> PassageStore | None:
    try:
        return index.open()
    except (IndexNotFoundError, IndexCorruptError, IndexMismatchError):
        return None


def _reusable_vectors(old: PassageStore, embedder: Embedder) -> dict[str, np.ndarray]:
    """Exact embedded text → its vector in the previous index, when that index used the same model, prompt and
    encoder (int8 and fp32 vectors of one text differ: an index never mixes them)."""
    if (old.manifest.model != embedder.name or old.manifest.passage_prompt != embedder.passage_prompt
            or old.manifest.encoder != embedder.encoder):
        return {}
    reusable = dict(zip((p.text for p in old.passages), old.passage_vectors()))
    reusable.update(zip((s.text for p in old.passages for s in p.sentences), old.sentence_vectors))
    return reusable


