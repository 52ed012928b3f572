"""The engine: the one object a long-running front end (the chat, its HTTP API) holds for the whole process.

A CLI command answers and exits, so it builds an `Assistant` and drops it. A server answers many people at once
for days while the index is rebuilt under it; `Engine` is what makes that safe: it owns the loaded assistant
(retriever + answerer), lets concurrent requests share it, bounds how many run at once, and swaps in a rebuilt
index without a restart and without losing any setting.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa.answer import Answer, AnswerEvent, AnswerSettings, Assistant, LLMSettings, final_answer
from qa.embedding.embeddings import Embedder
from qa.errors import InvalidArgumentError, QAError
from qa.store.base import Index
from qa.store.location import parse_index
from qa.records import SearchResult
from qa.retrieval.retriever import MAX_K, Retriever
from qa.settings import RetrievalSettings

log = logging.getLogger("hoidap.engine")


class EngineBusyError(QAError):
    """Every slot stayed taken for the whole wait: the engine is already answering as many questions as it may."""


@dataclass(frozen=True)
class Snapshot:
    """What one request works with from its start to its end: an assistant and the index version it was loaded
    from (None: unknown, or no index folder to watch)."""

    assistant: Assistant
    version: str | None


class Engine:
    """The loaded assistant of a server process, shared by all its requests.

    Thread-safety contract:

    * Concurrent requests are safe. A request takes the current `Snapshot` once and works on it to the end; a
      snapshot is never changed after it is published. The one thing requests share that is not safe to share
      unguarded is the embedding model (its tokenizer and torch module): `qa.embedding.embeddings.Embedder` holds a lock
      around every encode call, the one place every query goes through, so encoding is serialised and the rest
      (FAISS and BM25 reads, answering) runs in parallel.
    * At most `max_concurrent` requests run at once, one slot each; a request waits up to `wait_seconds` for a
      slot, then fails with `EngineBusyError`. A stream holds its slot from its first `next()` until its final
      answer is produced, or until it is closed: a caller that stops reading (a chat client went away, the stop
      button) closes the stream, which releases the slot and closes the answerer's stream with it (an LLM
      answer's connection and deadline timer).
    * A reload swaps everything at once: the new assistant is built completely (index, retriever, answerer) while
      requests go on with the old one, then published with one reference assignment under a lock. Requests in
      flight finish on the snapshot they started with; later ones get the new one. A reload that fails (an index
      built with another model, an unreadable one) keeps the old snapshot and is tried again at the next check.
    * A reload keeps every setting: the loaded model, the answer settings, the LLM settings (or a custom
      answerer: `Assistant.with_retriever`), and the caller's retrieval settings: `retrieval` when given, else
      those of the handed-in retriever when they differ from the ones saved with its index. Otherwise each index
      answers with the settings saved with it (`qa index --fusion …` takes effect on reload).
    * Reload detection: `Index.current_version()` (for Qdrant: the alias target), at most every
      `recheck_seconds`; a version other than the loaded one means a rebuild finished. The version is read before
      loading, so a rebuild that ends during a load is noticed at the next check rather than missed.
    """

    MAX_K = MAX_K  # the largest k a request may ask for (a front end's limit for its slider or its API)

    def __init__(self, source: Assistant | Retriever | Callable[[], Assistant], *,
                 index_dir: Path | str | Index | None = None, retrieval: RetrievalSettings | None = None,
                 max_concurrent: int = 2, wait_seconds: float = 30.0, recheck_seconds: float = 2.0) -> None:
        """`source`: an assistant (or retriever) already loaded, or a function that loads one on first use.
        Without `index_dir` nothing is ever reloaded."""
        if isinstance(source, Retriever):
            source = Assistant(source)
        if not isinstance(source, Assistant) and not callable(source):
            raise TypeError("Engine needs an Assistant, a Retriever or a function that returns an Assistant.")
        if not isinstance(max_concurrent, int) or max_concurrent < 1:
            raise InvalidArgumentError(f"max_concurrent must be a whole number ≥ 1, got {max_concurrent!r}.")
        self.index: Index | None = parse_index(index_dir) if index_dir is not None else None
        self.max_concurrent = max_concurrent
        self.wait_seconds = wait_seconds
        self.recheck_seconds = recheck_seconds
        self.last_error: Exception | None = None  # why the first load failed, until one succeeds
        self._loader = None if isinstance(source, Assistant) else source
        self._retrieval = retrieval
        self._lock = threading.Lock()  # guards the snapshot reference and the busy count; held only briefly
        self._loading = threading.Lock()  # one load or reload at a time
        self._slots = threading.BoundedSemaphore(max_concurrent)
        self._busy = 0
        self._snapshot: Snapshot | None = None
        self._checked = time.monotonic()
        if isinstance(source, Assistant):
            self._publish_first(source, self._version())

    @classmethod
    def open(cls, index_dir: Path | str | Index = "index", model: str | None = None, *,
             retrieval: RetrievalSettings | None = None, answer: AnswerSettings = AnswerSettings(),
             llm: LLMSettings | None = None, **options: Any) -> Engine:
        """An engine over `index_dir` that loads the index and model on first use (or `preload`), with these
        settings on every load and reload; `options` as for the constructor. `index_dir` may be a Qdrant URL."""
        index = parse_index(index_dir)

        def load() -> Assistant:
            return Assistant(Retriever.load(index, model, settings=retrieval), settings=answer, llm=llm)

        return cls(load, index_dir=index, retrieval=retrieval, **options)

    @property
    def index_dir(self) -> Path | str | None:
        """The index location as given: a folder's `Path`, a Qdrant URL's `str` (None: never reloaded)."""
        return self.index.location if self.index is not None else None

    # ------------------------------------------------------------------------------------------- requests

    def stream(self, question: str, history: Sequence[str] = (), k: int = 5) -> Iterator[AnswerEvent]:
        """`Assistant.stream` on the current assistant, in a slot (see the class docstring): text deltas, then the
        final `Answer`, which comes after the slot is released."""
        final = None
        with self._slot(), contextlib.closing(self.assistant().stream(question, history, k)) as events:
            for event in events:
                if isinstance(event, Answer):
                    final = event
                    break
                yield event
        if final is not None:
            yield final

    def ask(self, question: str, history: Sequence[str] = (), k: int = 5) -> Answer:
        """The final answer of `stream`."""
        return final_answer(self.stream(question, history, k))

    def search(self, question: str, k: int = 5) -> SearchResult:
        """The k best passages for `question` (what `qa search --json` prints), in a slot."""
        with self._slot():
            return self.assistant().retriever.retrieve(question, k)

    @property
    def busy(self) -> int:
        """How many slots are taken now."""
        with self._lock:
            return self._busy

    @contextlib.contextmanager
    def _slot(self) -> Iterator[None]:
        if not self._slots.acquire(timeout=self.wait_seconds):
            raise EngineBusyError(f"The engine is answering {self.max_concurrent} question(s) already and none "
                                  f"finished within {self.wait_seconds:g} s; try again in a moment.")
        with self._lock:
            self._busy += 1
        try:
            yield
        finally:
            with self._lock:
                self._busy -= 1
            self._slots.release()

    # ------------------------------------------------------------------------------------ loading, reloading

    def assistant(self) -> Assistant:
        """The assistant to answer with now: loaded on first use, or first reloaded when the index was rebuilt.
        A request should call this once and keep what it got."""
        snapshot = self._current()
        if snapshot is None:
            return self._load_first()
        if self.index is not None and time.monotonic() - self._checked >= self.recheck_seconds:
            self._checked = time.monotonic()
            version = self._version()
            if version is not None and version != snapshot.version:
                return self._reload(version)
        return snapshot.assistant

    @property
    def loaded(self) -> bool:
        return self._current() is not None

    def loaded_embedder(self) -> Embedder | None:
        """The model the current assistant uses, or None before the first load: a background rebuild of the
        same index reuses it instead of loading a second copy (its encode lock keeps sharing safe)."""
        snapshot = self._current()
        return snapshot.assistant.retriever.embedder if snapshot else None

    @property
    def version(self) -> str | None:
        """The index version the current assistant was loaded from (None before the first load)."""
        snapshot = self._current()
        return snapshot.version if snapshot else None

    def preload(self) -> threading.Thread:
        """Load in the background so that the first question does not wait for the model."""

        def run() -> None:
            try:
                self.assistant()
            except QAError as error:
                log.warning("The index is not usable yet: %s", error)
            except Exception:
                log.exception("Loading the index and model failed")

        thread = threading.Thread(target=run, name="hoidap-preload", daemon=True)
        thread.start()
        return thread

    def _current(self) -> Snapshot | None:
        with self._lock:
            return self._snapshot

    def _version(self) -> str | None:
        return self.index.current_version() if self.index is not None else None

    def _load_first(self) -> Assistant:
        with self._loading:  # requests that arrive meanwhile wait for this load: there is nothing else to use
            snapshot = self._current()
            if snapshot is None:
                version = self._version()  # before loading: a rebuild that ends meanwhile is noticed later
                try:
                    assistant = self._loader()
                except Exception as error:
                    self.last_error = error
                    raise
                snapshot = self._publish_first(assistant, version)
            return snapshot.assistant

    def _reload(self, version: str) -> Assistant:
        if not self._loading.acquire(blocking=False):
            return self._current().assistant  # another request is loading it; answer with the old one meanwhile
        try:
            current = self._current()
            if current.version == version:
                return current.assistant
            try:
                old = current.assistant
                retriever = Retriever.load(self.index, embedder=old.retriever.embedder, settings=self._retrieval)
                assistant = old.with_retriever(retriever)
            except QAError as error:
                log.warning("Keeping the loaded index; the rebuilt one is not usable yet: %s", error)
                return current.assistant
            log.info("Reloaded the rebuilt index from %s", self.index)
            return self._publish(Snapshot(assistant, version)).assistant
        finally:
            self._loading.release()

    def _publish_first(self, assistant: Assistant, version: str | None) -> Snapshot:
        if self._retrieval is None:
            self._retrieval = _callers_retrieval(assistant)
        return self._publish(Snapshot(assistant, version))

    def _publish(self, snapshot: Snapshot) -> Snapshot:
        with self._lock:
            self._snapshot = snapshot
        self.last_error = None
        return snapshot


def _callers_retrieval(assistant: Assistant) -> RetrievalSettings | None:
    """The assistant's retrieval settings when they differ from the ones saved with its index (so the caller
    chose them and a reload must keep them), else None: each index's own settings apply."""
    retriever = getattr(assistant, "retriever", None)
    try:
        saved = RetrievalSettings.from_dict(retriever.store.manifest.retrieval)
        settings = retriever.settings
    except (AttributeError, QAError):  # an assistant over a stand-in retriever: nothing to keep
        return None
    return settings if settings != saved else None
