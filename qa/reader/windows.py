"""A question and a passage as the reader sees them: token windows with character offsets.

Training (`scripts/train_reader.py`) and answering build windows with these same functions, so the model is read
exactly as it was taught. Pure functions over token lists; the tokenizer is passed in.

A window is ``<s> query: question </s></s> context tokens </s>`` (the pair layout of the base model's tokenizer);
a passage longer than a window is read in several, each overlapping the previous by `overlap` tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # tokenizers.Tokenizer (training) or qa.reader.tokenizer.ReaderTokenizer (answers): same output
    from tokenizers import Tokenizer

QUESTION_PREFIX = "query: "  # the base model's own prefix for questions
MAX_TOKENS = 384  # one window, special tokens included
MAX_QUESTION_TOKENS = 64
OVERLAP = 128  # context tokens a window shares with the one before it


@dataclass(frozen=True)
class TokenizedText:
    """A text's tokens without special tokens, and each token's [start, end) characters in the text."""

    ids: np.ndarray  # int64 [n]
    offsets: np.ndarray  # int64 [n, 2]


@dataclass(frozen=True)
class Window:
    ids: np.ndarray  # int64 [length]: <s> question </s></s> context </s>
    context_at: int  # position in `ids` of the first context token
    first: int  # index in the context's tokens of that first token
    count: int  # context tokens in this window

    def token_span(self, start: int, end: int) -> tuple[int, int] | None:
        """Window positions of context tokens [start, end] (inclusive), or None when not wholly inside."""
        if start < self.first or end >= self.first + self.count:
            return None
        return self.context_at + start - self.first, self.context_at + end - self.first


def special_ids(tokenizer: Tokenizer) -> tuple[int, int]:
    """(<s>, </s>) ids of the base model's tokenizer."""
    cls, sep = tokenizer.token_to_id("<s>"), tokenizer.token_to_id("</s>")
    if cls is None or sep is None:
        raise ValueError("the reader's tokenizer has no <s> or </s> token")
    return cls, sep


def tokenize(tokenizer: Tokenizer, texts: list[str]) -> list[TokenizedText]:
    """Each text's tokens and character offsets (no special tokens)."""
    out = []
    for encoding in tokenizer.encode_batch(texts, add_special_tokens=False):
        ids = np.asarray(encoding.ids, dtype=np.int64)
        offsets = np.asarray(encoding.offsets, dtype=np.int64).reshape(-1, 2)
        out.append(TokenizedText(ids, offsets))
    return out


def question_ids(tokenizer: Tokenizer, question: str) -> np.ndarray:
    """The question's tokens with the base model's prefix, cut to `MAX_QUESTION_TOKENS`."""
    return tokenize(tokenizer, [QUESTION_PREFIX + question])[0].ids[:MAX_QUESTION_TOKENS]


def windows(question: np.ndarray, context: TokenizedText, cls: int, sep: int,
            max_tokens: int = MAX_TOKENS, overlap: int = OVERLAP) -> list[Window]:
    """The windows that together cover every context token (one for an empty context)."""
    room = max_tokens - len(question) - 4
    if room <= overlap:
        raise ValueError(f"a window of {max_tokens} tokens has no room past a {len(question)}-token question")
    head = np.concatenate([[cls], question, [sep, sep]]).astype(np.int64)
    total = len(context.ids)
    out, first = [], 0
    while True:
        count = min(room, total - first)
        ids = np.concatenate([head, context.ids[first:first + count], [sep]]).astype(np.int64)
        out.append(Window(ids, len(head), first, count))
        if first + count >= total:
            return out
        first += room - overlap


def char_to_tokens(offsets: np.ndarray, start: int, end: int) -> tuple[int, int] | None:
    """The first and last token (inclusive) that overlap characters [start, end), or None."""
    if end <= start or len(offsets) == 0:
        return None
    inside = np.nonzero((offsets[:, 1] > start) & (offsets[:, 0] < end))[0]
    if len(inside) == 0:
        return None
    return int(inside[0]), int(inside[-1])
