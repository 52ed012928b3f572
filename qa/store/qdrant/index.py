"""An index in Qdrant (`qa.store.base.Index`): the alias a URL names, whose collections hold its versions
(layout: `qa.store.qdrant.store`; writing: `qa.store.qdrant.writer`). Made once per URL by
`qa.store.location.parse_index`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from qa.records import Document, Passage
from qa.store.local.store import Manifest
from qa.store.qdrant import store
from qa.store.qdrant.connection import QdrantLocation, resolve
from qa.store.qdrant.store import QdrantStore
from qa.store.qdrant.writer import publish_version


@dataclass(frozen=True)
class QdrantIndex:
    """A Qdrant collection alias: readers resolve it once per open, a build switches it in one call."""

    location: str  # the URL as given (`qa.store.qdrant.connection.URL_FORMS`)

    def __str__(self) -> str:
        return self.location

    @cached_property
    def parsed(self) -> QdrantLocation:
        return QdrantLocation.parse(self.location)

    @property
    def cli_argument(self) -> str:
        return f"--store {self.location}"

    def rebuild_hint(self) -> str:
        return store.rebuild_hint(self.parsed)

    def read_manifest(self) -> Manifest:
        lease = self.parsed.connect()
        try:
            with lease as client:
                return store.manifest_of(client, self.parsed, store.required_version(client, self.parsed))
        finally:
            lease.release()

    def current_version(self) -> str | None:
        """The alias target: what `qa.Engine` polls for rebuilds."""
        lease = self.parsed.connect()
        try:
            with lease as client:
                return resolve(client, self.parsed)
        finally:
            lease.release()

    def open(self) -> QdrantStore:
        return QdrantStore.load(self.location)

    @contextmanager
    def writing(self, wait: float) -> Iterator[None]:
        """Nothing to hold: no lock spans machines; the alias switch alone makes a version current."""
        yield

    def publish(self, manifest: Manifest, documents: Sequence[Document], passages: Sequence[Passage],
                passage_vectors: np.ndarray, sentence_vectors: np.ndarray) -> str:
        return publish_version(self.location, manifest, documents, passages, passage_vectors, sentence_vectors)
