"""The reader's training examples as the model sees them: a question and a passage (or a passage that does not
answer it) → token windows labelled with every occurrence of the answer. Pure functions, no torch:
`scripts/train_reader.py` trains on them and the tests check them.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass

import numpy as np

from qa.reader.windows import MAX_TOKENS, OVERLAP, char_to_tokens, question_ids, special_ids, tokenize, windows
from qa.text import sentence_spans


@dataclass(frozen=True)
class Example:
    source: str
    language: str
    context: str
    question: str
    answer: str | None  # None: the context does not answer


@dataclass(frozen=True)
class Feature:
    ids: np.ndarray
    starts: tuple[int, ...]  # window positions any answer occurrence starts at ((0,) = no answer)
    ends: tuple[int, ...]


def occurrences(context: str, answer: str) -> list[tuple[int, int]]:
    """Every [start, end) where `answer` occurs in `context`."""
    spans, at = [], context.find(answer)
    while at >= 0 and answer:
        spans.append((at, at + len(answer)))
        at = context.find(answer, at + 1)
    return spans


def without_answer(context: str, answer: str) -> str | None:
    """`context` without the sentences that hold `answer` (any occurrence); None when too little is left or the
    answer still shows (it spanned a sentence break)."""
    spans = sentence_spans(context)
    hits = occurrences(context, answer)
    kept = [context[a:b] for a, b in spans if not any(s < b and a < e for s, e in hits)]
    text = " ".join(kept)
    if len(kept) < 2 or answer.casefold() in text.casefold():
        return None
    return text


_TERM = re.compile(r"\d+(?:[.,]\d+)*|\w+")


def swappable_terms(text: str) -> list[tuple[str, str]]:
    """(term, kind) for the numbers and the capitalised words after the first word of `text`: the names and
    figures a question's answer hinges on."""
    terms = []
    for position, match in enumerate(_TERM.finditer(text)):
        term = match.group(0)
        if term[0].isdigit():
            terms.append((term, "number"))
        elif position > 0 and term[0].isupper() and len(term) > 1:
            terms.append((term, "name"))
    return terms


def swapped_question(question: str, context: str, donors: list[str], rng: random.Random) -> str | None:
    """`question` with one of its names or numbers that `context` holds replaced by one of the same kind, taken
    from `donors` (other paragraphs), that `context` does not hold: worded like a question the context answers,
    about something it never mentions ("Who won the 21 km?" over a report of the 42 km). An unanswerable example
    of the kind SQuAD 2.0 made by hand; None when the question has no such term or the donors no replacement."""
    held = {term.casefold() for term in _TERM.findall(context)}
    asked = {term.casefold() for term in _TERM.findall(question)}
    terms = [(term, kind) for term, kind in swappable_terms(question) if term.casefold() in held]
    if not terms:
        return None
    term, kind = rng.choice(terms)
    pool = sorted({t for donor in donors for t, k in swappable_terms(donor)
                   if k == kind and t.casefold() not in held and t.casefold() not in asked})
    if not pool:
        return None
    return re.sub(rf"(?<!\w){re.escape(term)}(?!\w)", lambda _: rng.choice(pool), question, count=1)


def usable_translation(original: str, english: str) -> bool:
    """Whether an LLM's translation of `original` reads as one English question: it ends with "?", is in Latin
    script, is not the question copied, and is not a paragraph (the failures seen: a statement, a copy, a
    commentary). Questions so translated train the reader on English questions over text in other languages."""
    letters = [c for c in english if c.isalpha()]
    latin = sum(unicodedata.name(c, "").startswith("LATIN") for c in letters)
    return (english.endswith("?") and 2 <= len(english.split()) <= 40 and english.strip() != original.strip()
            and bool(letters) and latin / len(letters) > 0.9)


WrittenArticle = tuple[str, str, list[str], list[tuple[int, str, str | None, str]]]


def written_articles(rows: list[dict]) -> list[WrittenArticle]:
    """Passages written for this project (scripts/data/written-qa.jsonl: a Vietnamese paragraph, questions in
    Vietnamese and English, some written to be unanswerable) in `read_squad_format`'s shape: one article per
    document ("doc": scripts/data/written-qa-documents.jsonl, whose paragraphs share a subject, so a question's
    negatives are its sibling paragraphs: on topic, not answering), else per genre ("kind"). Each question is listed
    twice, Vietnamese then English (its id + ":en"); an unanswerable one has the answer None. ValueError for an
    answer that is not in its passage: a typo there would train the model on the wrong span."""
    genres: dict[str, tuple[list[str], list[tuple[int, str, str | None, str]]]] = {}
    for row in rows:
        paragraphs, questions = genres.setdefault(row.get("doc", row["kind"]), ([], []))
        context = unicodedata.normalize("NFC", row["context"])
        for qa in row["qas"]:
            answer = None if qa["answer"] is None else unicodedata.normalize("NFC", qa["answer"])
            if answer is not None and answer not in context:
                raise ValueError(f"{qa['id']}: the answer {qa['answer']!r} is not in its passage")
            for language, suffix in (("vi", ""), ("en", ":en")):
                questions.append((len(paragraphs), qa[language], answer, qa["id"] + suffix))
        paragraphs.append(context)
    return [("vietnamese", kind, paragraphs, questions) for kind, (paragraphs, questions) in genres.items()]


def featurize(examples: list[Example], tokenizer) -> tuple[list[Feature], Counter]:
    """Each example's windows with their labels (every occurrence of the answer that lies wholly inside)."""
    cls, sep = special_ids(tokenizer)
    counts: Counter = Counter()
    contexts = tokenize(tokenizer, [e.context for e in examples])
    features = []
    for example, context in zip(examples, contexts):
        question = question_ids(tokenizer, example.question)
        spans = []
        if example.answer is not None:
            for start, end in occurrences(example.context, example.answer):
                tokens = char_to_tokens(context.offsets, start, end)
                if tokens:
                    spans.append(tokens)
            counts["answer occurs more than once"] += len(spans) > 1
            if not spans:
                counts["answer not found in tokens (dropped)"] += 1
                continue
        for window in windows(question, context, cls, sep, MAX_TOKENS, OVERLAP):
            inside = [s for s in (window.token_span(a, b) for a, b in spans) if s]
            starts = tuple(sorted({s for s, _ in inside})) or (0,)
            ends = tuple(sorted({e for _, e in inside})) or (0,)
            features.append(Feature(window.ids, starts, ends))
            counts["windows with the answer" if inside else "windows without an answer"] += 1
    return features, counts
