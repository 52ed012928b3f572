"""Where an index lives, decided in one place: a folder (`qa.store.local`) or a Qdrant URL (`qa.store.qdrant`).
This module sits above the interface (`qa.store.base`) and both implementations, so neither imports the other.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qa.store.base import PassageStore
    from qa.store.local.store import Manifest

QDRANT_SCHEME = "qdrant://"
REMOTE_PREFIXES = (QDRANT_SCHEME, "qdrants://", "qdrant+path:")  # a server (http, https) or local mode in a folder


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
        from qa.store.qdrant.store import read_manifest as read_remote

        return read_remote(location)
    from qa.store.local.store import Manifest

    return Manifest.read(location)


def current_version(location: Path | str) -> str | None:
    """The version readers of `location` would open now (None: no index), cheap enough to poll."""
    if is_remote(location):
        from qa.store.qdrant.store import current_version as remote_version

        return remote_version(location)
    from qa.store.local.versions import current_version as folder_version

    return folder_version(location)


def open_store(location: Path | str) -> PassageStore:
    """The store at `location`: a folder (FAISS) or a Qdrant URL (`qa.store.qdrant.store.URL_FORMS`)."""
    if is_remote(location):
        from qa.store.qdrant.store import QdrantStore

        return QdrantStore.load(str(location))
    from qa.store.local.store import IndexStore

    return IndexStore.load(location)
