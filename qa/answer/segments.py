"""Where in a sentence the answer sits, when the question asks for no date, number, name or place: pure functions.

Questions are mostly written from the sentence that answers them, reusing its words; the answer is then the run of
the sentence's words that the question does not contain, next to the words it does (Vietnamese keeps the question
word where the answer goes: "Bá tước của Melfi là ai" ↔ "Bá tước của Melfi là William Iron Arm"). So a sentence is
cut at the words it shares with the question, and the run right after (or before) a shared word wins.

For a question in another language than the sentence, only names and numbers can be shared; they anchor it.
Measured on xquad-dev (README, "Answers and abstention"): the short answer holds the gold answer 0.065 → 0.178
(vi) and 0.046 → 0.136 (en).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from qa.answer.spans import NOT_NAMES
from qa.text import STOPWORDS, words

MAX_SEGMENT_WORDS = 10  # a short answer longer than this is cut there (xquad-dev: 6 → 0.18, 10 → 0.20, 14 → 0.22)

_TOKEN = re.compile(r"\w+(?:[.,]\d+)*|[^\w\s]")
_BREAKS = frozenset("();:“”\"'«»[].")
# Words that never start or end an answer: linking words of both languages.
_EDGE_WORDS = STOPWORDS | frozenset(
    "là và của các những một được bởi với vào trong cho đã có thì đó này như cũng đều rằng "
    "the of and a an to in by was were is are".split())


@dataclass(frozen=True)
class Segment:
    text: str
    start: int  # offsets into the sentence
    end: int
    distance: int  # tokens to the nearest word shared with the question (99: none shared)
    after_shared: bool  # a shared word stands just before it
    before_shared: bool  # a shared word stands just after it
    capitalised: bool
    numeric: bool


def shared_marks(tokens: list[str], question: str, same_language: bool) -> list[bool]:
    """Which sentence tokens the question shares: within a language, words that are part of a two-word phrase of
    the question (single Vietnamese syllables are too common to count) or names and numbers; across languages,
    names and numbers only."""
    asked = words(question)
    phrases = set(zip(asked, asked[1:]))
    asked_set = set(asked)
    lowered = [t.lower() for t in tokens]
    marks = []
    for i, token in enumerate(lowered):
        name_or_number = token in asked_set and token not in _EDGE_WORDS and (
            tokens[i][:1].isupper() or any(c.isdigit() for c in token))
        in_phrase = same_language and (
            (i + 1 < len(lowered) and (token, lowered[i + 1]) in phrases)
            or (i > 0 and (lowered[i - 1], token) in phrases))
        marks.append(name_or_number or in_phrase)
    return marks


def segments(sentence: str, question: str, same_language: bool) -> list[Segment]:
    """The runs of the sentence between the words it shares with the question, trimmed of linking words."""
    found = [(m.group(0), m.start(), m.end()) for m in _TOKEN.finditer(sentence)]
    tokens = [t for t, _, _ in found]
    marks = shared_marks(tokens, question, same_language)
    shared = [i for i, mark in enumerate(marks) if mark]
    runs: list[list[int]] = []
    current: list[int] = []
    for i, token in enumerate(tokens):
        if marks[i] or token in _BREAKS:
            if current:
                runs.append(current)
            current = []
        else:
            current.append(i)
    if current:
        runs.append(current)
    result = []
    for run in runs:
        run = _trim(run, tokens)
        word_positions = [i for i in run if tokens[i][0].isalnum() or tokens[i][0] == "_"]
        if len(word_positions) > MAX_SEGMENT_WORDS:
            run = _trim(run[:run.index(word_positions[MAX_SEGMENT_WORDS - 1]) + 1], tokens)
        if not run:
            continue
        first, last = run[0], run[-1]
        result.append(Segment(
            text=sentence[found[first][1]:found[last][2]], start=found[first][1], end=found[last][2],
            distance=min((min(abs(first - s), abs(last - s)) for s in shared), default=99),
            after_shared=any(s in shared for s in (first - 1, first - 2)),
            before_shared=any(s in shared for s in (last + 1, last + 2)),
            capitalised=any(tokens[i][:1].isupper() for i in run),
            numeric=any(c.isdigit() for i in run for c in tokens[i])))
    return result


def _trim(run: list[int], tokens: list[str]) -> list[int]:
    def edge(i: int) -> bool:
        return tokens[i].lower() in _EDGE_WORDS or not (tokens[i][0].isalnum())

    while run and edge(run[0]):
        run = run[1:]
    while run and edge(run[-1]):
        run = run[:-1]
    return run


def best_segment(sentence: str, question: str, kind: str | None, same_language: bool) -> str | None:
    """The segment likeliest to be the answer: next to the shared words (right after them most of all), and a name
    for who/where questions (then only its run of capitalised words), a number for when/how-many ones."""
    found = segments(sentence, question, same_language)
    if not found:
        return None

    def score(segment: Segment) -> float:
        value = -0.2 * min(segment.distance, 10) + 1.0 * segment.after_shared + 0.6 * segment.before_shared
        if kind in ("who", "where"):
            value += 0.8 * segment.capitalised
        if kind in ("when", "how_many"):
            value += 0.8 * segment.numeric
        return value

    best = max(found, key=score)
    if kind in ("who", "where") and best.capitalised:
        return capitalised_run(best.text) or best.text
    return best.text


def capitalised_run(text: str) -> str | None:
    """The first run of capitalised words in `text` ("Aliev chính thức được bầu" → "Aliev"), leaving out words
    capitalised only because they open a sentence ("Ngày", "Tại", "The"); None when there is none."""
    tokens = text.split()
    start = next((i for i, t in enumerate(tokens) if t[:1].isupper() and t.lower().strip(",.") not in NOT_NAMES),
                 None)
    if start is None:
        return None
    end = start
    while end + 1 < len(tokens) and tokens[end + 1][:1].isupper():
        end += 1
    return " ".join(tokens[start:end + 1]).strip(" ,")


_CLAUSE = re.compile(r"[^,;:]+(?:[,;:]|$)")


def quote_window(sentence: str, anchor: str | None, question: str, max_words: int) -> tuple[int, int]:
    """Offsets of the part of `sentence` to quote: all of it when it has at most `max_words` words, else the
    clauses around the one holding `anchor` (the short answer), or around the clause sharing most words with the
    question, grown one clause at a time toward the side that shares more, up to `max_words` words."""
    if len(sentence.split()) <= max_words:
        return 0, len(sentence)
    clauses = [(m.start(), m.end()) for m in _CLAUSE.finditer(sentence) if m.group(0).strip()]
    if len(clauses) < 2:
        return 0, len(sentence)
    asked = set(words(question))

    def shared(i: int) -> int:
        return len(asked & set(words(sentence[clauses[i][0]:clauses[i][1]])))

    position = sentence.find(anchor) if anchor else -1
    centre = next((i for i, (s, e) in enumerate(clauses) if s <= position < e), None) if position >= 0 else None
    if centre is None:
        centre = max(range(len(clauses)), key=shared)
    low = high = centre

    def size(a: int, b: int) -> int:
        return len(sentence[clauses[a][0]:clauses[b][1]].split())

    while True:
        options = []
        if low > 0 and size(low - 1, high) <= max_words:
            options.append((shared(low - 1) + 0.5, low - 1, high))  # the clause before usually names the subject
        if high + 1 < len(clauses) and size(low, high + 1) <= max_words:
            options.append((shared(high + 1), low, high + 1))
        if not options:
            break
        _, low, high = max(options)
    start, end = clauses[low][0], clauses[high][1]
    while start < end and sentence[start] in " ,;:":
        start += 1
    while end > start and sentence[end - 1] in " ,;:":
        end -= 1
    return start, end
