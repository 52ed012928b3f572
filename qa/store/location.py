"""Where an index lives, decided once: `parse_index` turns the location a user gave (a folder, or a Qdrant URL)
into the `qa.store.base.Index` that reads and writes it. This module sits above the interface and both
implementations, so neither imports the other; callers parse where a location enters (a CLI option, `Engine`,
`Retriever.load`, `build_index`) and hand the object on.
"""

from __future__ import annotations

import os
from pathlib import Path

from qa.store.base import Index
from qa.store.qdrant import LOCAL_SCHEME, SERVER_SCHEMES

REMOTE_PREFIXES = (*SERVER_SCHEMES, LOCAL_SCHEME)


def parse_index(location: Path | str | Index) -> Index:
    """The index at `location`: a Qdrant URL (a `str` starting with `REMOTE_PREFIXES`; a `Path` would collapse its
    "//") or else a folder. An `Index` is returned as it is, so parsing twice is harmless."""
    if isinstance(location, Index):
        return location
    if not isinstance(location, (str, os.PathLike)):
        raise TypeError(f"An index location is a folder, a Qdrant URL or a qa.Index, not {type(location).__name__}.")
    if isinstance(location, str) and location.startswith(REMOTE_PREFIXES):
        from qa.store.qdrant.index import QdrantIndex

        return QdrantIndex(location)
    from qa.store.local.folder import LocalIndex

    return LocalIndex(Path(location))
