"""Writing an index version into Qdrant (the layout is described in `qa.store.qdrant.store`), published atomically.

A build goes into two new collections, `<name>-<version>` and its `__meta`, and becomes current with one
`update_collection_aliases` call that moves the alias `<name>` onto it; the collections it replaced are deleted
after. Readers resolve the alias once, so they see the old build or the new one, never a mix; a build that fails
or is killed before the switch leaves the alias (and what readers see) unchanged.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, replace
from datetime import datetime, timezone

import numpy as np
from qdrant_client import QdrantClient, models

from qa.store.lexical import LexicalIndex
from qa.errors import IndexWriteError
from qa.store.qdrant.connection import QdrantLocation, meta_collection, resolve
from qa.store.qdrant.store import BM25, FORMAT_VERSION, MANIFEST_POINT, PASSAGE, SENTENCES, token_id
from qa.records import Document, Passage
from qa.store.local.store import Manifest

WRITE_BATCH = 128  # points per upsert: a few MB of vectors and payload per request


def publish_version(url: str, manifest: Manifest, documents: Sequence[Document], passages: Sequence[Passage],
                    passage_vectors: np.ndarray, sentence_vectors: np.ndarray) -> str:
    """Write a version and switch the alias to it; returns its collection name (the version)."""
    location = QdrantLocation.parse(url)
    version = f"{location.collection}-{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    final = replace(manifest, format_version=FORMAT_VERSION, index_type="qdrant", files={})
    lease = location.connect()
    try:
        with lease as client:
            try:
                _create(client, location, version, manifest.dimension)
                _write_passages(client, version, passages, passage_vectors, sentence_vectors)
                _write_meta(client, version, final, documents)
                previous = _switch_alias(client, location, version)
            except BaseException:
                with contextlib.suppress(Exception):  # best effort: the error that stopped the build is the news
                    for name in (version, meta_collection(version)):
                        client.delete_collection(name)
                raise
            if previous is not None and previous != version:
                for name in (previous, meta_collection(previous)):
                    client.delete_collection(name)
    finally:
        lease.release()
    return version


def _create(client: QdrantClient, location: QdrantLocation, version: str, dimension: int) -> None:
    client.create_collection(version, vectors_config={
        PASSAGE: models.VectorParams(size=dimension, distance=models.Distance.COSINE),
        SENTENCES: models.VectorParams(size=dimension, distance=models.Distance.COSINE,
                                       multivector_config=models.MultiVectorConfig(
                                           comparator=models.MultiVectorComparator.MAX_SIM)),
    }, sparse_vectors_config={BM25: models.SparseVectorParams()})
    client.create_collection(meta_collection(version), vectors_config={})
    if not location.local:  # local mode has no payload indexes (and warns about each)
        for field in ("id", "document", "tokens"):
            client.create_payload_index(version, field, models.PayloadSchemaType.KEYWORD)
        client.create_payload_index(meta_collection(version), "name", models.PayloadSchemaType.KEYWORD)


def _points(passages: Sequence[Passage], passage_vectors: np.ndarray,
            sentence_vectors: np.ndarray) -> Iterator[models.PointStruct]:
    weights = LexicalIndex.build([p.text for p in passages]).passage_weights()
    first = 0
    for row, (passage, vector, bm25) in enumerate(zip(passages, passage_vectors, weights)):
        vectors: dict = {PASSAGE: vector.tolist()}
        if passage.sentences:
            vectors[SENTENCES] = sentence_vectors[first:first + len(passage.sentences)].tolist()
        first += len(passage.sentences)
        by_id: dict[int, float] = {}
        for token, weight in bm25.items():
            by_id[token_id(token)] = by_id.get(token_id(token), 0.0) + weight
        if by_id:
            vectors[BM25] = models.SparseVector(indices=list(by_id), values=list(by_id.values()))
        yield models.PointStruct(id=row, vector=vectors, payload={**passage.to_dict(), "tokens": sorted(bm25)})


def _write_passages(client: QdrantClient, version: str, passages: Sequence[Passage], passage_vectors: np.ndarray,
                    sentence_vectors: np.ndarray) -> None:
    batch: list[models.PointStruct] = []
    for point in _points(passages, passage_vectors, sentence_vectors):
        batch.append(point)
        if len(batch) == WRITE_BATCH:
            client.upsert(version, batch, wait=True)
            batch = []
    if batch:
        client.upsert(version, batch, wait=True)


def _write_meta(client: QdrantClient, version: str, manifest: Manifest, documents: Sequence[Document]) -> None:
    """Documents first, the manifest last: a version with a manifest is complete."""
    points = [models.PointStruct(id=row, vector={}, payload={
        "name": d.name, "document": json.dumps(asdict(d), ensure_ascii=False)}) for row, d in
        enumerate(documents, start=MANIFEST_POINT + 1)]
    for start in range(0, len(points), WRITE_BATCH):
        client.upsert(meta_collection(version), points[start:start + WRITE_BATCH], wait=True)
    client.upsert(meta_collection(version), [models.PointStruct(id=MANIFEST_POINT, vector={}, payload={
        "name": "", "manifest": asdict(manifest)})], wait=True)


def _switch_alias(client: QdrantClient, location: QdrantLocation, version: str) -> str | None:
    """Point the alias at `version` in one call; the collection it named before (None: there was none).
    A plain collection under the alias's name (made by hand) cannot be replaced by an alias: that is an error."""
    previous = resolve(client, location)
    if previous == location.collection:
        raise IndexWriteError(f"{location.url}: {location.collection!r} is a collection, not an alias qa manages; "
                              "delete it or choose another name.")
    operations: list = [models.CreateAliasOperation(create_alias=models.CreateAlias(
        collection_name=version, alias_name=location.collection))]
    if previous is not None:
        operations.insert(0, models.DeleteAliasOperation(delete_alias=models.DeleteAlias(
            alias_name=location.collection)))
    client.update_collection_aliases(operations)
    return previous
