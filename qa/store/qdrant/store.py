"""A passage store in Qdrant (`qa.store.base.PassageStore`), for an index that lives past one machine.

One collection per index version, one point per passage (point id = the passage row):
  "passage"    dense vector (cosine): the dense neighbours
  "sentences"  multivector (MaxSim): the passage's sentence vectors; a passage's best-sentence cosine is MaxSim
  "bm25"       sparse vector: the passage's full BM25 weight per token (idf and Lucene's k1+1 included, exactly
               `qa.store.lexical`'s numbers), token ids hashed to u32 with blake2b; a question queries weight 1 per token
  payload      the passage record (`Passage.to_dict()`) plus its distinct lexical tokens (`tokens`, for idf counts)
Its companion `<collection>__meta` holds the manifest (point 0) and every document, whole text included (points
1…), so a reader on another machine needs nothing but the URL. The alias `<name>` names the version readers open;
`qa.store.qdrant.writer` builds a new version and switches the alias in one call. A reader resolves the alias once.

Candidates are exactly the FAISS store's: dense top-`depth` ∪ BM25 top-`depth`, every candidate's cosine, best
sentence and raw BM25 computed here from its fetched vectors, so fusion sees the same numbers whichever store.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

import numpy as np
from qdrant_client import QdrantClient, models

from qa.store.base import Candidates
from qa.store.lexical import attainable_score
from qa.errors import IndexCorruptError, IndexMismatchError, IndexNotFoundError
from qa.store.qdrant.connection import Lease, QdrantLocation, meta_collection, resolve
from qa.records import Document, Passage
from qa.store.local.store import Manifest
from qa.store.local.tables import PassageRows, in_order
from qa.text import lexical_tokens

FORMAT_VERSION = 1  # of the collections' layout; a reader refuses others
PASSAGE, SENTENCES, BM25 = "passage", "sentences", "bm25"
MANIFEST_POINT = 0
READ_BATCH = 256


def token_id(token: str) -> int:
    """A lexical token's sparse-vector index: stable across processes and machines (Python's hash() is not)."""
    return int.from_bytes(hashlib.blake2b(token.encode("utf-8"), digest_size=4).digest(), "little")


def required_version(client: QdrantClient, location: QdrantLocation) -> str:
    version = resolve(client, location)
    if version is None:
        raise IndexNotFoundError(f"No index at {location.url}. Build it with: qa index --store {location.url}")
    return version


def rebuild_hint(location: QdrantLocation) -> str:
    return f"Rebuild it with: qa index --store {location.url} --force"


def manifest_of(client: QdrantClient, location: QdrantLocation, version: str) -> Manifest:
    try:
        records = client.retrieve(meta_collection(version), ids=[MANIFEST_POINT], with_payload=True)
        manifest = Manifest(**records[0].payload["manifest"])
    except (ValueError, IndexError, KeyError, TypeError) as error:
        raise IndexCorruptError(f"{location.url} ({version}) has no readable manifest ({error}). "
                                + rebuild_hint(location)) from error
    if manifest.format_version != FORMAT_VERSION:
        raise IndexMismatchError(f"{location.url} has Qdrant layout {manifest.format_version}, this version of qa "
                                 f"reads layout {FORMAT_VERSION}. " + rebuild_hint(location))
    return manifest


@dataclass
class QdrantStore:
    """A loaded index version in Qdrant: the collection the alias named when it was opened (`QdrantIndex.open`)."""

    manifest: Manifest
    version: str  # the collection behind the alias
    passages: "QdrantPassages"
    documents: "QdrantDocuments"
    lease: Lease
    _idf: object = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._idf = lru_cache(maxsize=65536)(self._token_idf)  # per store: a question's words repeat

    @classmethod
    def load(cls, url: str) -> "QdrantStore":
        location = QdrantLocation.parse(url)
        lease = location.connect()
        try:
            with lease as client:
                version = required_version(client, location)
                manifest = manifest_of(client, location, version)
                found = client.count(version, exact=True).count
            if found != manifest.counts["passages"]:
                raise IndexCorruptError(f"{location.url} ({version}) holds {found} passages, its manifest says "
                                        f"{manifest.counts['passages']}. " + rebuild_hint(location))
            return cls(manifest, version, QdrantPassages(lease, version, found), QdrantDocuments(lease, version),
                       lease)
        except BaseException:
            lease.release()
            raise

    def close(self) -> None:
        self.lease.release()

    def candidates(self, question: str, vector: np.ndarray, depth: int) -> Candidates:
        depth = min(len(self.passages), depth)
        ids = sorted({token_id(t) for t in lexical_tokens(question)})
        if depth == 0:
            return Candidates.none()
        with self.lease as client:
            requests = [models.QueryRequest(query=vector.tolist(), using=PASSAGE, limit=depth)]
            if ids:
                requests.append(models.QueryRequest(query=models.SparseVector(indices=ids, values=[1.0] * len(ids)),
                                                    using=BM25, limit=depth))
            found = client.query_batch_points(self.version, requests)
            rows = np.unique([int(p.id) for response in found for p in response.points]).astype(np.int64)
            records = client.retrieve(self.version, ids=rows.tolist(), with_payload=["language"],
                                      with_vectors=[PASSAGE, SENTENCES, BM25])
        by_row = {int(r.id): r for r in records}
        ordered = [by_row[int(row)] for row in rows]
        dense = np.array([np.dot(r.vector[PASSAGE], vector) for r in ordered], dtype=np.float32)
        best_sentence = np.zeros(len(rows), dtype=np.int64)
        sentence = np.full(len(rows), -1.0, dtype=np.float32)
        for position, record in enumerate(ordered):
            if SENTENCES in record.vector:
                scores = np.asarray(record.vector[SENTENCES], dtype=np.float32) @ vector
                best_sentence[position], sentence[position] = int(np.argmax(scores)), scores.max()
        asked = np.asarray(ids, dtype=np.int64)
        lexical = np.array([_matched_weight(r.vector.get(BM25), asked) for r in ordered], dtype=np.float32)
        return Candidates(rows, [r.payload["language"] for r in ordered], dense, sentence, best_sentence, lexical)

    def sentence_similarities(self, passage_id: str, vector: np.ndarray) -> np.ndarray:
        row = self.passages.row_of(passage_id)
        with self.lease as client:
            record = client.retrieve(self.version, ids=[row], with_vectors=[SENTENCES])[0]
        if not record.vector or SENTENCES not in record.vector:
            return np.zeros(0, dtype=np.float32)
        return np.asarray(record.vector[SENTENCES], dtype=np.float32) @ vector

    def idf(self, token: str) -> float:
        return self._idf(token)

    def attainable_lexical(self, question: str) -> float:
        """One count a token not asked before (cached per store, as `idf`)."""
        return attainable_score(question, self.idf)

    def _token_idf(self, token: str) -> float:
        with self.lease as client:
            df = client.count(self.version, exact=True, count_filter=models.Filter(
                must=[models.FieldCondition(key="tokens", match=models.MatchValue(value=token))])).count
        n = len(self.passages)
        return math.log(1 + (n - df + 0.5) / (df + 0.5))  # qa.store.lexical's idf

    def document_text(self, name: str) -> str:
        return self.documents[name].text

    def passage_vectors(self) -> np.ndarray:
        """Every passage vector by row (a rebuild reuses those of unchanged texts)."""
        return np.array([r.vector[PASSAGE] for r in self.passages.records(with_vectors=[PASSAGE])],
                        dtype=np.float32).reshape(-1, self.manifest.dimension)

    @property
    def sentence_vectors(self) -> np.ndarray:
        """Every sentence vector, in passage order (as `qa.store.local.store.IndexStore.sentence_vectors`)."""
        found = [np.asarray(r.vector[SENTENCES], dtype=np.float32)
                 for r in self.passages.records(with_vectors=[SENTENCES]) if r.vector and SENTENCES in r.vector]
        return np.concatenate(found) if found else np.zeros((0, self.manifest.dimension), dtype=np.float32)


def _matched_weight(sparse: models.SparseVector | None, asked: np.ndarray) -> float:
    """A passage's BM25 for a question: the sum of its weights of the question's tokens."""
    if sparse is None or not len(asked):
        return 0.0
    indices = np.asarray(sparse.indices, dtype=np.int64)
    return float(np.asarray(sparse.values, dtype=np.float32)[np.isin(indices, asked)].sum())


_PASSAGE_FIELDS = models.PayloadSelectorExclude(exclude=["tokens"])


class QdrantPassages(PassageRows):
    """The passages of a version by row, read from the points' payloads when asked for."""

    def __init__(self, lease: Lease, version: str, count: int) -> None:
        self._lease, self._version, self._count = lease, version, count

    def _payloads(self, rows: Iterable[int], selector) -> list[dict]:
        order = [int(r) for r in rows]
        found: dict[int, dict] = {}
        with self._lease as client:
            for start in range(0, len(order), READ_BATCH):
                chunk = sorted(set(order[start:start + READ_BATCH]))
                found.update((int(r.id), r.payload) for r in client.retrieve(self._version, ids=chunk,
                                                                             with_payload=selector))
        return in_order(order, found)

    def at(self, rows: Iterable[int]) -> list[Passage]:
        return [Passage.from_dict(p) for p in self._payloads(rows, _PASSAGE_FIELDS)]

    def languages(self, rows: Iterable[int]) -> list[str]:
        return [p["language"] for p in self._payloads(rows, ["language"])]

    def records(self, with_vectors: list[str] | bool = False, payload=False) -> Iterator[models.Record]:
        """Every point in row order, a page at a time."""
        return scroll(self._lease, self._version, with_vectors=with_vectors, with_payload=payload)

    def __iter__(self) -> Iterator[Passage]:
        for record in self.records(payload=_PASSAGE_FIELDS):
            yield Passage.from_dict(record.payload)

    def row_of(self, passage_id: str) -> int:
        with self._lease as client:
            page, _ = client.scroll(self._version, limit=1, with_payload=False, scroll_filter=models.Filter(
                must=[models.FieldCondition(key="id", match=models.MatchValue(value=passage_id))]))
        if not page:
            raise KeyError(passage_id)
        return int(page[0].id)

    def counts_by_document(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for record in self.records(payload=["document"]):
            counts[record.payload["document"]] = counts.get(record.payload["document"], 0) + 1
        return counts


class QdrantDocuments(Mapping[str, Document]):
    """The documents of a version by name, from its `__meta` collection; each read when asked for."""

    def __init__(self, lease: Lease, version: str) -> None:
        self._lease, self._collection = lease, meta_collection(version)

    def _find(self, name: str) -> list[models.Record]:
        with self._lease as client:
            page, _ = client.scroll(self._collection, limit=1, with_payload=True, scroll_filter=models.Filter(
                must=[models.FieldCondition(key="name", match=models.MatchValue(value=name))]))
        return page

    def __getitem__(self, name: str) -> Document:
        page = self._find(name)
        if not page:
            raise KeyError(name)
        return Document.from_dict(json.loads(page[0].payload["document"]))

    @cached_property
    def _names(self) -> tuple[str, ...]:
        return tuple(r.payload["name"] for r in scroll(self._lease, self._collection, with_payload=["name"])
                     if r.id != MANIFEST_POINT)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def scroll(lease: Lease, collection: str, **options) -> Iterator[models.Record]:
    """Every point of `collection` in id order, a page at a time (`options` as for `QdrantClient.scroll`)."""
    offset = None
    while True:
        with lease as client:
            page, offset = client.scroll(collection, limit=READ_BATCH, offset=offset, **options)
        yield from page
        if offset is None:
            return
