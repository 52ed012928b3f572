"""Pure text functions: reference markers, white space, sentence boundaries, lexical tokens.

Everything here works on plain strings and returns offsets into the string it was given,
so callers can map results back to the document text exactly.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from functools import lru_cache

# Wikipedia-style reference markers: [15], [note 3], [a], [cần dẫn nguồn], [citation needed].
REFERENCE_MARKER = re.compile(r"\[(\d{1,4}|[a-z]|note \d{1,3}|cần dẫn nguồn|citation needed)\]", re.IGNORECASE)

_SPACES = re.compile(r"\s+")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([.,;:!?…)\]}”’»])")
_WORD = re.compile(r"\w+")

# A sentence ends with terminal punctuation, then any closing quotes, brackets or reference markers.
_SENTENCE_END = re.compile(r"[.!?…]+(?:[\"”’'»)]|" + REFERENCE_MARKER.pattern + r")*", re.IGNORECASE)
_OPENERS = "\"“‘'«(["
# Words after which a period does not end a sentence (lower-cased, without the period).
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof st jr sr vs etc e.g i.e no tp gs pgs ts ths bs ks ông bà v.v tr ch q".split()
)
# A plain-text heading is a short line without final punctuation ("Điều 2. Thời gian mở cửa", "Results").
_FINAL_PUNCTUATION = tuple('.!?:;…,"”’)')
_SENTENCE_CLOSERS = tuple('.!?:;…"”’)»')
_MAX_HEADING_CHARS = 100
_MAX_HEADING_WORDS = 12
_LINE = re.compile(r"[^\n]+")


def find_references(text: str) -> list[str]:
    """The labels of the reference markers in `text`, in order, e.g. ["15", "16"]."""
    return [m.group(1) for m in REFERENCE_MARKER.finditer(text)]


def clean_text(text: str) -> str:
    """Text as embedded and shown: reference markers removed, white space folded to single spaces."""
    text = REFERENCE_MARKER.sub("", text)
    text = _SPACES.sub(" ", text).strip()
    return _SPACE_BEFORE_PUNCT.sub(r"\1", text)


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Split text[start:end] into sentences; returns (start, end) offsets into `text`, trimmed of white space.

    A boundary is terminal punctuation (plus closing quotes and reference markers) followed by white space
    and a capital letter, a digit or an opening quote; initials ("Georgiy I. Mirsky") and common
    abbreviations do not end a sentence. A heading line on top of its paragraph ("Điều 2. Thời gian mở cửa",
    then the article's text on the next line) is a sentence of its own, whole: quoted alone, never glued to
    the sentence after it.
    """
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    at = start
    for line_start, line_end in heading_lines(text, start, end):
        spans += _punctuated_sentences(text, at, line_start)
        spans.append((line_start, line_end))
        at = line_end
    return spans + _punctuated_sentences(text, at, end)


def heading_lines(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """The lines of text[start:end] that head the text under them: heading-shaped (`is_heading_line`), at a
    sentence's start (the block's first line, or after a line that ends a sentence or is itself a heading),
    followed by a line that starts with a capital letter or an opening quote, with a line of running text
    (not heading-shaped) below them, and short beside the block's longest line. The last condition keeps
    hard-wrapped prose (lines of ~70 characters, none over 120) from reading as headings; the one before keeps
    a list of short lines together."""
    lines = [trim_span(text, m.start(), m.end()) for m in _LINE.finditer(text, start, end)]
    lines = [(s, e) for s, e in lines if s < e]
    if len(lines) < 2:
        return []
    longest = max(e - s for s, e in lines)
    shaped = [is_heading_line(text[s:e]) for s, e in lines]
    found: list[tuple[int, int]] = []
    for index, (s, e) in enumerate(lines[:-1]):
        previous = lines[index - 1] if index else None
        after_sentence = previous is None or previous in found or text[previous[1] - 1] in _SENTENCE_CLOSERS
        following = text[lines[index + 1][0]]
        starts_sentence = following.isupper() or following in _OPENERS  # not a digit: "H" then "2O" (a subscript)
        below = not all(shaped[index + 1:])  # running text somewhere under it
        short = longest > 120 or (e - s) <= 0.6 * longest
        if shaped[index] and after_sentence and starts_sentence and below and short:
            found.append((s, e))
    return found


def is_heading_line(line: str) -> bool:
    """A short single line without final punctuation: how a heading looks in plain text."""
    line = line.strip()
    return (bool(line) and "\n" not in line and len(line) <= _MAX_HEADING_CHARS
            and len(line.split()) <= _MAX_HEADING_WORDS and not line.endswith(_FINAL_PUNCTUATION)
            and line.count("(") == line.count(")"))  # "(H+" then "3) is found…" is one sentence broken


def _punctuated_sentences(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """text[start:end] split at terminal punctuation (see `sentence_spans`)."""
    spans: list[tuple[int, int]] = []
    sentence_start = start
    for match in _SENTENCE_END.finditer(text, start, end):
        boundary = match.end()
        rest = text[boundary:end]
        stripped = rest.lstrip()
        if not stripped:
            break  # the paragraph's end closes the last sentence
        if len(stripped) == len(rest):
            continue  # no space after the punctuation: "3.5", "v.v."
        following = stripped[0]
        if not (following.isupper() or following.isdigit() or following in _OPENERS):
            continue
        if text[match.start()] == "." and _is_abbreviation(text, sentence_start, match.start()):
            continue
        spans.append(trim_span(text, sentence_start, boundary))
        sentence_start = boundary
    if text[sentence_start:end].strip():
        spans.append(trim_span(text, sentence_start, end))
    return spans


def _is_abbreviation(text: str, floor: int, period: int) -> bool:
    word_start = period
    while word_start > floor and not text[word_start - 1].isspace():
        word_start -= 1
    word = text[word_start:period].lstrip(_OPENERS)
    if len(word) == 1 and word.isupper():
        return True  # an initial
    return word.lower() in _ABBREVIATIONS


def trim_span(text: str, start: int, end: int) -> tuple[int, int]:
    """`start:end` without the white space at either end."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def strip_diacritics(text: str) -> str:
    """ASCII-fold Vietnamese: "Đường biên" → "duong bien", so unaccented queries still match."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def words(text: str) -> list[str]:
    """Lower-cased word tokens (Vietnamese syllables are words here), NFC-normalised."""
    return _WORD.findall(unicodedata.normalize("NFC", text).lower())


# Question and function words that carry no topic; dropped from lexical matching in both languages.
STOPWORDS = frozenset(
    """
    the a an of in on at to is was were be been are am did does do what who whom whose when where why how which
    many much and or for by with from that this these those it its as into about than then there their they he
    she his her him we you your i me my our us can could would should will shall may might have has had
    ai gì nào đâu bao nhiêu sao khi thì là của và có được các những một trong với cho này đó không đã bị mà ở
    tại về như từ theo nhé ạ vậy thế
    """.split()
)


def lexical_tokens(text: str) -> list[str]:
    """Tokens for BM25: words and adjacent-word pairs (Vietnamese words span syllables), each also ASCII-folded."""
    tokens = words(text)
    unigrams = [t for t in tokens if t not in STOPWORDS]
    bigrams = [
        f"{a}_{b}" for a, b in zip(tokens, tokens[1:]) if not (a in STOPWORDS and b in STOPWORDS)
    ]
    result = unigrams + bigrams
    folded = [_folded_token(t) for t in result]
    return result + [f for f, t in zip(folded, result) if f != t]


@lru_cache(maxsize=1 << 17)
def _folded_token(token: str) -> str:
    """`strip_diacritics` of one token, remembered: words repeat (Zipf), and folding was most of BM25's build."""
    return strip_diacritics(token)


def iter_paragraph_blocks(text: str) -> Iterator[tuple[int, int]]:
    """Spans of blank-line-separated blocks, trimmed of surrounding white space."""
    for match in re.finditer(r"\S(?:.*?\S)?(?=\n[ \t]*\n|\s*\Z)", text, re.DOTALL):
        yield match.start(), match.end()
