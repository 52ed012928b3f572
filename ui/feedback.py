"""Feedback: 👍/👎 on an answer, from the chat or the /feedback endpoint, appended as one JSON line a vote."""

import fcntl
import json
import os
import threading
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import qa

DEFAULT_FEEDBACK_PATH = Path("data") / "feedback.jsonl"


class FeedbackLog:
    """Append-only JSONL: one row a vote. A process lock plus an advisory file lock, and each row is one
    write() on a file opened for appending, so concurrent votes never interleave."""

    def __init__(self, path: Path | str = DEFAULT_FEEDBACK_PATH):
        self.path = Path(path)
        self._lock = threading.Lock()

    def append(self, row: dict) -> dict:
        row = {"timestamp": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), **row}
        line = (json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8")
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                os.write(fd, line)
            finally:
                os.close(fd)  # closing releases the lock
        return row


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
        raise qa.InvalidArgumentError(f'vote must be "up" or "down", got {vote!r}.')
    if not isinstance(question, str) or not question.strip():
        raise qa.InvalidQuestionError("The question is empty.", "empty")
    return {"vote": vote, "source": "api", "question": question.strip(), "answer": answer,
            "citations": list(citations or [])}


def _plain(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return " ".join(_plain(v) for v in value)
    if isinstance(value, dict):
        return str(value.get("text") or value.get("value") or "")
    return str(value)
