"""The passage and document tables of an index version: one SQLite file, read lazily, row by row.

Why SQLite: a million passages as JSON lines took seconds and gigabytes to parse at every start; SQLite opens in
microseconds, reads only the rows a question needs, and is in the standard library. A version's file is never
written after it is published, so readers open it `immutable` (no locking, no journal).

Passages keep their FAISS row as their SQLite rowid, so "row → passage" is a primary-key read.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path

from qa.records import Document, Passage

TABLES = "texts.sqlite"
_BATCH = 900  # rows per "IN (…)" read, under SQLite's default limit on bound parameters
_SCHEMA = """
CREATE TABLE documents (name TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE passages (row INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, document TEXT NOT NULL,
                       language TEXT NOT NULL, data TEXT NOT NULL);
CREATE INDEX passages_by_document ON passages (document, row);
"""


def write_tables(path: Path, documents: Iterable[Document], passages: Iterable[Passage]) -> int:
    """Write both tables into a new file at `path`; passages get rows 0, 1, 2… in the order given. Returns how
    many passages were written."""
    connection = sqlite3.connect(path)
    try:
        connection.executescript("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;" + _SCHEMA)
        connection.executemany("INSERT INTO documents VALUES (?, ?)",
                               ((d.name, json.dumps(asdict(d), ensure_ascii=False)) for d in documents))
        count = 0

        def rows() -> Iterator[tuple[int, str, str, str, str]]:
            nonlocal count
            for row, passage in enumerate(passages):
                count = row + 1
                yield (row, passage.id, passage.document, passage.language,
                       json.dumps(passage.to_dict(), ensure_ascii=False))

        connection.executemany("INSERT INTO passages VALUES (?, ?, ?, ?, ?)", rows())
        connection.commit()
    finally:
        connection.close()
    return count


class TableConnection:
    """One read-only connection shared by the threads of a process (Gradio answers from a thread pool)."""

    def __init__(self, path: Path) -> None:
        uri = f"file:{path.resolve().as_posix()}?mode=ro&immutable=1"
        self._connection = sqlite3.connect(uri, uri=True, check_same_thread=False)
        self._lock = threading.Lock()

    def rows(self, sql: str, parameters: Sequence = ()) -> list[tuple]:
        with self._lock:
            return self._connection.execute(sql, parameters).fetchall()

    def close(self) -> None:
        with self._lock:
            self._connection.close()


class PassageRows(Sequence[Passage]):
    """Passages by row, read a batch at a time through `at(rows)`: what every store's `passages` is, whichever
    holds them (this SQLite table, or Qdrant's payloads in `qa.store.qdrant.store`)."""

    _count: int

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, row):  # type: ignore[override]
        if isinstance(row, slice):
            return self.at(range(*row.indices(self._count)))
        row = int(row)
        if row < 0:
            row += self._count
        if not 0 <= row < self._count:
            raise IndexError(f"passage row {row} out of range")
        return self.at([row])[0]

    def at(self, rows: Iterable[int]) -> list[Passage]:
        raise NotImplementedError


def in_order(order: list[int], found: dict[int, object]) -> list:
    """`found`'s values for the rows of `order`, in that order; IndexError naming rows it lacks."""
    missing = set(order) - found.keys()
    if missing:
        raise IndexError(f"no passage at row(s) {sorted(missing)[:5]}")
    return [found[r] for r in order]


class PassageTable(PassageRows):
    """The passages of a version, as a read-only sequence indexed by FAISS row (`table[row]`, `table.at(rows)`)."""

    def __init__(self, connection: TableConnection, count: int) -> None:
        self._connection = connection
        self._count = count

    def at(self, rows: Iterable[int]) -> list[Passage]:
        """The passages at `rows`, in that order (one read per few hundred rows)."""
        return [Passage.from_dict(json.loads(data)) for data in self._column("data", rows)]

    def languages(self, rows: Iterable[int]) -> list[str]:
        """The language of the passages at `rows`, in that order, without reading the passages."""
        return self._column("language", rows)

    def _column(self, column: str, rows: Iterable[int]) -> list:
        order = [int(r) for r in rows]
        found: dict[int, object] = {}
        for start in range(0, len(order), _BATCH):
            chunk = sorted(set(order[start:start + _BATCH]))
            marks = ",".join("?" * len(chunk))
            found.update(self._connection.rows(f"SELECT row, {column} FROM passages WHERE row IN ({marks})", chunk))
        return in_order(order, found)

    def __iter__(self) -> Iterator[Passage]:
        for start in range(0, self._count, _BATCH * 10):
            for (data,) in self._connection.rows("SELECT data FROM passages WHERE row >= ? AND row < ? ORDER BY row",
                                                 (start, start + _BATCH * 10)):
                yield Passage.from_dict(json.loads(data))

    def row_of(self, passage_id: str) -> int:
        """The FAISS row of a passage id (KeyError when the index has no such passage)."""
        found = self._connection.rows("SELECT row FROM passages WHERE id = ?", (passage_id,))
        if not found:
            raise KeyError(passage_id)
        return int(found[0][0])

    def counts_by_document(self) -> dict[str, int]:
        return dict(self._connection.rows("SELECT document, COUNT(*) FROM passages GROUP BY document"))


class DocumentTable(Mapping[str, Document]):
    """The documents of a version by name; each is read (whole text included) only when asked for."""

    def __init__(self, connection: TableConnection) -> None:
        self._connection = connection
        self._names: list[str] | None = None

    def __getitem__(self, name: str) -> Document:
        found = self._connection.rows("SELECT data FROM documents WHERE name = ?", (name,))
        if not found:
            raise KeyError(name)
        return Document.from_dict(json.loads(found[0][0]))

    def _all_names(self) -> list[str]:
        if self._names is None:
            self._names = [name for (name,) in self._connection.rows("SELECT name FROM documents ORDER BY rowid")]
        return self._names

    def __iter__(self) -> Iterator[str]:
        return iter(self._all_names())

    def __len__(self) -> int:
        return len(self._all_names())

    def __contains__(self, name: object) -> bool:
        return bool(self._connection.rows("SELECT 1 FROM documents WHERE name = ?", (name,)))


def open_tables(path: Path, passages: int) -> tuple[DocumentTable, PassageTable, TableConnection]:
    """Both tables of the file at `path` (which must exist), sharing one connection to close when done."""
    if not path.is_file():
        raise FileNotFoundError(path)
    connection = TableConnection(path)
    return DocumentTable(connection), PassageTable(connection, passages), connection
