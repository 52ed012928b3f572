"""An index in a folder (`qa.store.base.Index`): its versions (`qa.store.local.versions`) in the on-disk format
(`qa.store.local.store`), read and written by the one object `qa.store.location.parse_index` makes for a path.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.errors import IndexWriteError, QAError
from qa.records import Document, Passage
from qa.store.local import store, versions
from qa.store.local.store import IndexStore, Manifest


@dataclass(frozen=True)
class LocalIndex:
    """A folder holding an index's versions behind CURRENT; a writer lock makes builds of it one at a time."""

    location: Path

    def __str__(self) -> str:
        return str(self.location)

    @property
    def cli_argument(self) -> str:
        return f"--index {self.location}"

    def rebuild_hint(self) -> str:
        return store.rebuild_hint(self.location)

    def read_manifest(self) -> Manifest:
        return Manifest.read(self.location)

    def current_version(self) -> str | None:
        return versions.current_version(self.location)

    def open(self) -> IndexStore:
        return IndexStore.load(self.location)

    @contextmanager
    def writing(self, wait: float) -> Iterator[None]:
        """The folder's writer lock; a file-system failure inside becomes `IndexWriteError` saying the previous
        version is unchanged (it is: nothing is published until the new version is complete)."""
        try:
            with versions.writer_lock(self.location, wait):
                yield
        except OSError as error:
            if isinstance(error, QAError):  # SeedsNotFoundError is a FileNotFoundError too
                raise
            raise IndexWriteError(f"Could not write the index in {self.location}: {error.strerror or error}"
                                  + (f" ({error.filename})" if error.filename else "")
                                  + ". The previous version, if any, is unchanged.") from error

    def publish(self, manifest: Manifest, documents: Sequence[Document], passages: Sequence[Passage],
                passage_vectors: np.ndarray, sentence_vectors: np.ndarray) -> str:
        """Write the version in a staging folder, switch CURRENT to it, sweep versions no reader has open."""
        versions.sweep(self.location)  # what a crashed writer left
        staging = versions.new_staging(self.location)
        try:
            store.write_version(staging, manifest, documents, passages, passage_vectors, sentence_vectors)
            version = versions.publish(self.location, staging)
        finally:
            shutil.rmtree(staging, ignore_errors=True)  # gone already once published
        store.remove_legacy_files(self.location)
        versions.sweep(self.location)
        return version
