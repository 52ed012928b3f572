"""Stage 1a, guarded: files are parsed in worker processes under `ParseLimits`, so a hostile file (a zip bomb,
an element flood, a parser caught in a loop) costs at most its time limit and a worker, never the caller's
memory or thread. One pool serves a whole build (workers are reused; one that runs over time is killed and
replaced); plain text is decoded in-process, where nothing can blow up.

Why pebble (LGPL-3.0, pure Python, no dependencies): its process pool kills a task that passes its timeout and
starts a fresh worker, which `concurrent.futures` cannot do.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, TimeoutError as FutureTimeout
from types import TracebackType

from qa.documents.formats import (DEFAULT_LIMITS, TEXT_SUFFIXES, Extracted, LimitExceededError, ParseLimits,
                        UnreadableDocumentError, extract, suffix_of)

Outcome = Extracted | UnreadableDocumentError


class BoundedParser:
    """`parse(name, raw)` or `parse_all(items)` under `limits`; use as a context manager (it owns worker
    processes, started on the first file that needs one)."""

    def __init__(self, limits: ParseLimits = DEFAULT_LIMITS, workers: int | None = None) -> None:
        self.limits = limits
        self.workers = workers or max(1, min(2, os.cpu_count() or 1))
        self._pool = None

    def __enter__(self) -> BoundedParser:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.stop()  # kills a worker still busy (the caller gave up on it)
            self._pool.join(timeout=10)
            self._pool = None

    def parse(self, name: str, raw: bytes) -> Extracted:
        """The file's text; `UnreadableDocumentError` (a `LimitExceededError` past a limit) when there is none."""
        outcome = self._outcome(self._submit(name, raw))
        if isinstance(outcome, UnreadableDocumentError):
            raise outcome
        return outcome

    def parse_all(self, items: Iterable[tuple[str, bytes]]) -> Iterator[tuple[str, bytes, Outcome]]:
        """(name, raw, text or the reason it has none) for each item, in order; the workers read ahead a few
        files, so no more than that many are held in memory."""
        pending: deque[tuple[str, bytes, Future | Outcome]] = deque()
        for name, raw in items:
            pending.append((name, raw, self._submit(name, raw)))
            while len(pending) > 2 * self.workers:
                done = pending.popleft()
                yield done[0], done[1], self._outcome(done[2])
        while pending:
            done = pending.popleft()
            yield done[0], done[1], self._outcome(done[2])

    def _submit(self, name: str, raw: bytes) -> Future | Outcome:
        if suffix_of(name) in TEXT_SUFFIXES:  # a decode: linear and bounded by the file size
            try:
                return extract(name, raw, self.limits)
            except UnreadableDocumentError as error:
                return error
        return self._workers().schedule(_extract, args=(name, raw, self.limits), timeout=self.limits.seconds)

    def _outcome(self, submitted: Future | Outcome) -> Outcome:
        if not isinstance(submitted, Future):
            return submitted
        from pebble import ProcessExpired

        try:
            return submitted.result()
        except FutureTimeout:
            return LimitExceededError(f"it took longer than the {self.limits.seconds:g} s limit to read", "seconds")
        except ProcessExpired as error:  # killed from outside (memory) or crashed in native code
            return UnreadableDocumentError(f"its reader stopped ({error})")
        except UnreadableDocumentError as error:
            return error
        except Exception as error:  # noqa: BLE001 - a parser's own failure on a malformed file: that file's reason
            return UnreadableDocumentError(f"it could not be parsed ({type(error).__name__}: {error})")

    def _workers(self):
        if self._pool is None:
            from pebble import ProcessPool

            # fork: a worker needs only the readers, and starts in milliseconds; spawn and forkserver would run
            # the caller's main module again in each worker (and cannot at all for `python -` or a notebook).
            self._pool = ProcessPool(max_workers=self.workers, context=multiprocessing.get_context("fork"))
        return self._pool


def _extract(name: str, raw: bytes, limits: ParseLimits) -> Extracted:
    return extract(name, raw, limits)
