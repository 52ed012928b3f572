"""Feedback: 👍/👎 on an answer, from the chat or the /feedback endpoint, appended as one JSON line a vote.

Bounded three ways, since the endpoint is open to whoever reaches the chat: each field has a size cap (a row
over it is refused, not cut), each client has a rate limit, and the log rotates (feedback.jsonl.1, .2, … kept).
"""

import fcntl
import json
import os
import threading
import time
from collections import deque
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import qa

DEFAULT_FEEDBACK_PATH = Path("data") / "feedback.jsonl"
MAX_QUESTION_CHARS = 2000  # as a question may be
MAX_ANSWER_CHARS = 20_000
MAX_CITATIONS = 50
MAX_CITATION_CHARS = 4000  # one citation as JSON
MAX_ROW_BYTES = 256 * 1024  # any row, the chat's own included
MAX_LOG_BYTES = 10 * 1024 * 1024  # then the log rotates
KEPT_LOGS = 3  # feedback.jsonl.1 … .3
VOTES_PER_MINUTE = 30  # a client's


class TooManyVotesError(qa.QAError):
    """A client sent more votes than the rate limit allows; it may vote again in a minute."""


class FeedbackLog:
    """Append-only JSONL: one row a vote. A process lock plus an advisory file lock, and each row is one
    write() on a file opened for appending, so concurrent votes never interleave. Past `max_bytes` the file is
    renamed to .1 (and .1 to .2 …, `kept` of them) before the next row."""

    def __init__(self, path: Path | str = DEFAULT_FEEDBACK_PATH, max_bytes: int = MAX_LOG_BYTES,
                 kept: int = KEPT_LOGS):
        self.path = Path(path)
        self.max_bytes, self.kept = max_bytes, kept
        self._lock = threading.Lock()

    def append(self, row: dict) -> dict:
        row = {"timestamp": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), **row}
        line = (json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8")
        if len(line) > MAX_ROW_BYTES:
            raise qa.InvalidArgumentError(f"The feedback is {len(line):,} bytes; at most {MAX_ROW_BYTES:,} are kept.")
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                size = os.fstat(fd).st_size
                if size and size + len(line) > self.max_bytes:
                    os.close(fd)
                    fd = self._rotate()
                os.write(fd, line)
            finally:
                os.close(fd)  # closing releases the lock
        return row

    def _rotate(self) -> int:
        """Shift the logs (.2 → .3 …, the current → .1; the oldest dropped) and open a fresh, locked current one.
        Called holding the process lock; another process that had the old file open writes its row there."""
        for number in range(self.kept - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{number}")
            if older.exists():
                os.replace(older, self.path.with_name(f"{self.path.name}.{number + 1}"))
        if self.kept:
            os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        else:
            self.path.unlink(missing_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd


class RateLimit:
    """At most `per_minute` events a key in any 60 s; the oldest keys are forgotten past `max_keys`."""

    def __init__(self, per_minute: int = VOTES_PER_MINUTE, max_keys: int = 10_000) -> None:
        self.per_minute, self.max_keys = per_minute, max_keys
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, key: str) -> None:
        """Count one event for `key`; `TooManyVotesError` when it is over the limit (and then not counted)."""
        now = time.monotonic()
        with self._lock:
            events = self._events.pop(key, None) or deque()
            while events and events[0] <= now - 60:
                events.popleft()
            self._events[key] = events  # re-inserted: the dict's order is least recently seen first
            if len(events) >= self.per_minute:
                raise TooManyVotesError(f"More than {self.per_minute} votes a minute from this client; "
                                        "try again in a minute.")
            events.append(now)
            while len(self._events) > self.max_keys:
                del self._events[next(iter(self._events))]


def vote_of(liked: Any) -> str:
    """Gradio's like payload as "up", "down" or "withdrawn" (a second click on the same thumb sends "")."""
    if liked is None or liked == "":
        return "withdrawn"
    if liked is True or str(liked).lower() in ("like", "up", "true", "👍"):
        return "up"
    if liked is False or str(liked).lower() in ("dislike", "down", "false", "👎"):
        return "down"
    return str(liked)


def chat_vote_row(turns: Sequence[dict], message_index: int, liked: Any, message: Any) -> dict:
    """The row for a vote in the chat on the message at `message_index`: the turn's question, answer and
    citations, or just the message's text when no turn is known for it."""
    turn = next((t for t in turns if t.get("message_index") == message_index), None)
    row = {"vote": vote_of(liked), "source": "chat"}
    if turn is None:
        return {**row, "question": None, "answer": _plain(message), "citations": []}
    answer = turn.get("answer") or {}
    return {**row, "question": turn["question"], "language": turn["language"],
            "answer": answer.get("answer", turn.get("error")), "answered": answer.get("answered", False),
            "confidence": answer.get("confidence"), "backend": answer.get("backend"),
            "citations": answer.get("citations", [])}


def api_vote_row(question: str, answer: str, vote: Any, citations: list | None) -> dict:
    """The row for a vote sent to /feedback; only "up" or "down" on a non-empty question is accepted."""
    vote = vote_of(vote.strip().lower() if isinstance(vote, str) else vote)
    if vote not in ("up", "down"):
        raise qa.InvalidArgumentError(f'vote must be "up" or "down", got {str(vote)[:40]!r}.')
    if not isinstance(question, str) or not question.strip():
        raise qa.InvalidQuestionError("The question is empty.", "empty")
    answer = "" if answer is None else answer
    if not isinstance(answer, str):
        raise qa.InvalidArgumentError("answer must be text.")
    citations = list(citations or [])
    _cap("question", len(question.strip()), MAX_QUESTION_CHARS, "characters")
    _cap("answer", len(answer), MAX_ANSWER_CHARS, "characters")
    _cap("citations", len(citations), MAX_CITATIONS, "items")
    for citation in citations:
        _cap("a citation", len(json.dumps(citation, ensure_ascii=False)), MAX_CITATION_CHARS, "characters")
    return {"vote": vote, "source": "api", "question": question.strip(), "answer": answer, "citations": citations}


def _cap(what: str, size: int, limit: int, unit: str) -> None:
    if size > limit:
        raise qa.InvalidArgumentError(f"{what} is {size:,} {unit}; at most {limit:,} are accepted.")


def _plain(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return " ".join(_plain(v) for v in value)
    if isinstance(value, dict):
        return str(value.get("text") or value.get("value") or "")
    return str(value)
