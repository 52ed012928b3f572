"""The default answerer: the sentence of the top passages that answers the question, quoted (by its clauses around
the answer when it is long) with an exact citation and framed in the asker's language, or an honest "not in the
documents".

No generator model and no GPU. Each sentence of the top passages is scored by its cosine with the question, its
passage's standing, the question's words and phrases it holds, its neighbours' cosines and whether it holds the
kind of thing asked for (`AnswerSettings`). The short answer comes from that sentence (`qa.answer.spans` for dates
and numbers, `qa.answer.segments` otherwise). A small calibrated model (`qa.answer.abstention`) decides whether to
answer; an abstaining answer keeps the withheld text as `candidate`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from qa.answer.abstention import CROSS_LANGUAGE, SAME_LANGUAGE
from qa.answer.base import AnswerEvent, Answerer, stream_words
from qa.answer.records import NOT_FOUND, Answer, AnswerCitation, AnswerSettings
from qa.answer.segments import best_segment, quote_window
from qa.answer.spans import english_date, extract_span, question_type
from qa.language import ENGLISH, VIETNAMESE
from qa.records import Hit, SearchResult, Sentence
from qa.text import STOPWORDS, clean_text, words

if TYPE_CHECKING:
    from qa.store.base import PassageStore

_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class ScoredSentence:
    hit: Hit
    index: int  # into hit.passage.sentences
    score: float
    similarity: float
    span: str | None  # the date / number / name / place it holds, when the question asks for one

    @property
    def sentence(self) -> Sentence:
        return self.hit.passage.sentences[self.index]


@dataclass(frozen=True)
class Quote:
    """What the answer quotes of a sentence: exact offsets into the document, and the text shown."""

    item: ScoredSentence
    start: int
    end: int
    text: str


def anchors(question: str) -> set[str]:
    """The question's names and numbers (capitalised after its first word, or with a digit), lower-cased: the
    words that read the same in Vietnamese and English text."""
    tokens = _WORD.findall(question)
    return {t.lower() for i, t in enumerate(tokens) if any(c.isdigit() for c in t) or (i > 0 and t[0].isupper())}


class ExtractiveAnswerer(Answerer):
    """Answers from an index's stored sentence vectors; one instance serves many questions.

    `idf(word)` weighs the question's words by rarity (`LexicalIndex.idf`); without it every word counts
    the same."""

    backend = "extractive"

    def __init__(self, store: PassageStore, settings: AnswerSettings = AnswerSettings(),
                 idf: Callable[[str], float] | None = None) -> None:
        self.store = store  # the index the results come from: its sentence vectors and document texts
        self.settings = settings
        self.idf = idf or (lambda word: 1.0)

    @property
    def passages(self) -> int:
        return self.settings.passages

    def stream(self, result: SearchResult, k: int) -> Iterator[AnswerEvent]:
        """The answer text a word at a time (it is ready at once; the words let a chat show it arriving), then
        the `Answer`."""
        answer = self.answer(result, k)
        yield from stream_words(answer.answer)
        yield answer

    def answer(self, result: SearchResult, k: int = 5) -> Answer:
        """The extractive answer for an already retrieved result."""
        ranked = self.rank_sentences(result)
        hits = result.hits[:k]
        found = {"hits": hits, "retrieved": list(result.hits), "retrieval_query": result.query}
        if not ranked:
            return Answer(result.query, result.language, False, NOT_FOUND[result.language], None, 0.0, [], **found)
        confidence = self.confidence(result, ranked[0])
        kind = question_type(result.query)
        chosen = self.choose(ranked, kind)
        short = self.short_answer(result, chosen[0], kind)
        quotes = [self.quote(item, short, result.query) for item in chosen]
        text = frame_answer(result.language, [q.text for q in quotes], short, chosen[0].hit.passage.language)
        if confidence < self.settings.min_confidence:
            return Answer(result.query, result.language, False, NOT_FOUND[result.language], None, confidence, [],
                          candidate=text, **found)
        citations = [self.cite(marker, quote) for marker, quote in enumerate(quotes, start=1)]
        return Answer(result.query, result.language, True, text, short, confidence, citations, **found)

    def confidence(self, result: SearchResult, best: ScoredSentence) -> float:
        """The calibrated probability that `best` answers (see `qa.answer.abstention`)."""
        weights = SAME_LANGUAGE if result.language == best.hit.passage.language else CROSS_LANGUAGE
        return weights.confidence(*abstention_signals(result, best))

    def rank_sentences(self, result: SearchResult) -> list[ScoredSentence]:
        settings = self.settings
        kind = question_type(result.query)
        question_words = words(result.query)
        asked = {w for w in question_words if w not in STOPWORDS}
        asked_weight = sum(self.idf(w) for w in asked)
        phrases = set(zip(question_words, question_words[1:]))
        names = anchors(result.query)
        store = self.store
        top = result.hits[0].score if result.hits else 0.0
        scored = []
        for hit in result.hits[:settings.passages]:
            similarities = store.sentence_similarities(hit.passage_id, result.query_vector)
            same_language = result.language == hit.passage.language
            for index, sentence in enumerate(hit.passage.sentences):
                tokens = words(sentence.text)
                present = set(tokens)
                overlap = phrase = 0.0
                if same_language and asked_weight > 0:
                    overlap = sum(self.idf(w) for w in asked & present) / asked_weight
                if same_language and phrases:
                    phrase = len(phrases & set(zip(tokens, tokens[1:]))) / len(phrases)
                anchored = len(names & present) / len(names) if names else 0.0
                span = extract_span(kind, sentence.text, result.query)
                score = (float(similarities[index]) + settings.passage_weight * (hit.score - top)
                         + settings.overlap_weight * overlap + settings.phrase_weight * phrase
                         + settings.anchor_weight * anchored
                         + settings.neighbour_weight * _neighbour(similarities, index)
                         + (settings.type_weight if span else 0.0))
                scored.append(ScoredSentence(hit, index, score, float(similarities[index]), span))
        return sorted(scored, key=lambda s: -s.score)

    def choose(self, ranked: list[ScoredSentence], kind: str | None) -> list[ScoredSentence]:
        """One sentence; two when the question asks for a date, number, name or place that the best sentence lacks
        and a nearly as good one holds."""
        best = ranked[0]
        if kind is None or best.span:
            return [best]
        for other in ranked[1:3]:
            close = best.score - other.score <= self.settings.second_sentence_margin
            if close and other.span and other.sentence.text != best.sentence.text:
                return sorted([best, other], key=lambda s: (s.hit.rank, s.index))
        return [best]

    def short_answer(self, result: SearchResult, best: ScoredSentence, kind: str | None) -> str | None:
        """The date or number asked for, else the part of the sentence the question leaves open."""
        if kind in ("when", "how_many") and best.span:
            return best.span
        same_language = result.language == best.hit.passage.language
        return best_segment(best.sentence.text, result.query, kind, same_language) or best.span

    def quote(self, item: ScoredSentence, short: str | None, question: str) -> Quote:
        """The sentence, or for a long one the clauses around the short answer, as exact document offsets."""
        sentence = item.sentence
        source = self.document_text(item.hit.passage.document)[sentence.start:sentence.end]
        start, end = quote_window(source, short, question, self.settings.max_quote_words)
        text = clean_text(source[start:end])
        if start > 0:
            text = "…" + text
        if end < len(source):
            text = text + "…"
        return Quote(item, sentence.start + start, sentence.start + end, text)

    def cite(self, marker: int, quote: Quote) -> AnswerCitation:
        passage = quote.item.hit.passage
        return AnswerCitation.of(marker, passage, Sentence(quote.text, quote.start, quote.end),
                                 self.store.documents[passage.document])

    def document_text(self, document: str) -> str:
        """A document's full text, for the citations' exact quotes."""
        return self.store.document_text(document)


def abstention_signals(result: SearchResult, best: ScoredSentence) -> tuple[float, float]:
    """(the best sentence's score, the lead of the best passage over the second)."""
    scores = [hit.score for hit in result.hits[:2]]
    margin = scores[0] - scores[1] if len(scores) == 2 else scores[0]
    return best.score, margin


def _neighbour(similarities: np.ndarray, index: int) -> float:
    around = [float(similarities[j]) for j in (index - 1, index + 1) if 0 <= j < len(similarities)]
    return max(around, default=float(similarities[index]))


def language_neutral(short_answer: str) -> str | None:
    """The short answer as an English reader can take it from Vietnamese text: a date in English, or a name or
    number as written; None for words that would need translating."""
    in_english = english_date(short_answer)
    if in_english:
        return in_english if in_english == short_answer else f"{in_english} (“{short_answer}”)"
    tokens = short_answer.split()
    if tokens and all(t[:1].isupper() or any(c.isdigit() for c in t) for t in tokens):
        return short_answer
    return None


def frame_answer(language: str, quotes: list[str], short_answer: str | None, source_language: str) -> str:
    """The answer text in the asker's language; each quote carries its marker [n]."""
    quoted = " ".join(f"{q} [{n}]" for n, q in enumerate(quotes, start=1))
    if language == VIETNAMESE:
        return f"Theo tài liệu: {quoted}"
    if source_language == ENGLISH:
        return f"According to the documents: {quoted}"
    fact = language_neutral(short_answer) if short_answer else None
    lead = f"{fact}. " if fact else ""
    return f"{lead}The Vietnamese source says: “{quoted}”"
