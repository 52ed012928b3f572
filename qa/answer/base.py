"""The one interface every answerer implements, so the assistant, the chat and the CLI stream any of them alike.

An answerer turns an already retrieved `SearchResult` into events: text deltas as the answer is produced (a chat
shows them as they arrive), then, as the last event, the final `Answer`. The final answer is authoritative: an
LLM's deltas are its raw, unverified text, and the final answer may differ (markers renumbered, or the extractive
fallback), so whatever was shown from the deltas is replaced by it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Protocol

from qa.answer.records import Answer
from qa.records import SearchResult

AnswerEvent = str | Answer  # a text delta, or (last) the final answer


class Answerer(Protocol):
    """Answers an already retrieved result; the assistant streams whichever one it holds."""

    @property
    def passages(self) -> int:
        """How many top passages it reads: the assistant retrieves at least this many."""
        ...

    def stream(self, result: SearchResult, k: int) -> Iterator[AnswerEvent]:
        """Text deltas as they are produced, then the final `Answer` (whose `hits` are `result.hits[:k]`)."""
        ...


def final_answer(events: Iterable[AnswerEvent]) -> Answer:
    """Drain an answerer's events and return the final `Answer` (its last event)."""
    last: AnswerEvent | None = None
    for last in events:
        pass
    if not isinstance(last, Answer):
        raise TypeError(f"an answerer's last event must be an Answer, got {type(last).__name__}")
    return last


def stream_words(text: str) -> Iterator[str]:
    """`text` a word at a time (each with its trailing space), so a chat can show an answer arriving; the pieces
    join back to `text` exactly when it does not start with white space."""
    for match in re.finditer(r"\S+\s*", text):
        yield match.group(0)
