"""The reading answerer: the trained reader (`qa.reader`) reads the top passages and its span is the answer.

For each of the top passages the reader gives its best span and how far that span beats "no answer". A small
logistic model (`ReaderCalibration`, fitted by `scripts/calibrate_reader.py` on the dev benchmark, per embedding
model) turns each passage's reader and retrieval signals into the probability that its span answers: the most
probable passage is chosen, and that probability is the answer's confidence (below the threshold: abstain).

The answer shows the span first (the short answer, in bold), then the sentence that holds it, quoted with an exact
citation (its clauses around the span when long). For an English question over Vietnamese text the span leads,
with a date turned into English: names, numbers and dates read the same in both languages.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from qa.answer.base import AnswerEvent, Answerer, stream_words
from qa.answer.records import NOT_FOUND, Answer, AnswerCitation, AnswerSettings, ShortSpan
from qa.answer.segments import quote_window
from qa.answer.spans import english_date
from qa.language import ENGLISH, VIETNAMESE
from qa.reader.model import trim
from qa.records import Hit, Passage, SearchResult, Sentence
from qa.text import clean_text

if TYPE_CHECKING:
    from qa.store.base import PassageStore
    from qa.reader.model import Reader, Span

CALIBRATION_FILE = Path(__file__).resolve().parents[1] / "reader" / "weights" / "calibration.json"
ANY_MODEL = "*"  # the calibration that uses only the reader's and the ranking's signals: any embedding model
# The signals of a passage, by name: the reader's; the retrieval scores' (on the default embedding model's scale);
# and the rank's, for the calibration any other model gets. The default model's calibration leaves "first" out: on
# xquad-dev (where retrieval's first passage holds the answer 97 % of the time) it taught the calibration to
# overrule the reader, which is wrong wherever every passage looks relevant (the seed), and cross-validated it
# added nothing beside the scores (README, "Reading four passages").
READER_FEATURES = ("lead", "score", "no_answer", "lead_gap", "cross", "cross_lead")
RETRIEVAL_FEATURES = ("retrieval_gap", "dense")
# "cross_vi": a Vietnamese question over a passage in another language. The query adapter maps each question
# language its own way, so the two directions across languages need their own thresholds: with one "cross" weight
# fitted on English questions over Vietnamese text, Vietnamese questions over English text were abstained on 89 %
# of the time (README, "One threshold per direction"). Only the default model's calibration uses it.
DIRECTION_FEATURES = ("cross_vi",)
RANK_FEATURES = ("first",)


READ_CHARS = 6000  # at most this much of a passage is read (a 300-word passage is ~2,000): a huge one-sentence
# "passage" (a 1 MB line) is read from its best sentence on, not in thousands of windows


def reading_source(text: str, hit: Hit) -> tuple[int, str]:
    """(offset in the document, text) of what the reader reads of a hit's passage: all of it, or for an
    oversized one READ_CHARS from the sentence retrieval matched best."""
    passage = hit.passage
    if passage.end - passage.start <= READ_CHARS:
        return passage.start, text[passage.start:passage.end]
    sentences = passage.sentences
    begin = sentences[hit.best_sentence].start if 0 <= hit.best_sentence < len(sentences) else passage.start
    return begin, text[begin:min(begin + READ_CHARS, passage.end)]


@dataclass(frozen=True)
class Candidate:
    """One read passage: its hit, the reader's span (None: nothing to read) and the signals the calibration uses."""

    hit: Hit
    span: Span | None
    offset: int  # where `source` starts in the document
    source: str  # what was read: the passage's exact source text (see `reading_source`)
    features: dict[str, float] = field(default_factory=dict)

    @property
    def short_answer(self) -> str:
        return self.source[self.span.start:self.span.end] if self.span else ""


def candidate_features(result: SearchResult, hits: Sequence[Hit], spans: Sequence[Span | None]) -> list[dict[str, float]]:
    """Each read passage's signals (pure: the calibration script and the answerer compute them alike)."""
    leads = [s.lead for s in spans if s is not None]
    best_lead = max(leads, default=0.0)
    top = hits[0].score if hits else 0.0
    out = []
    for hit, span in zip(hits, spans):
        cross = float(hit.passage.language != result.language)
        lead = span.lead if span else -20.0
        out.append({"lead": lead, "score": span.score if span else -20.0,
                    "no_answer": span.no_answer if span else 20.0, "lead_gap": lead - best_lead,
                    "first": float(hit.rank == 1), "cross": cross, "cross_lead": cross * lead,
                    "cross_vi": cross * (result.language == VIETNAMESE),
                    "retrieval_gap": hit.score - top, "dense": hit.scores.dense})
    return out


@dataclass(frozen=True)
class ReaderCalibration:
    """P(a passage's span answers the question) = logistic(bias + Σ weight × feature); answer when it reaches
    `threshold`. The threshold is set for the passage in the question's language; the "cross" and "cross_vi"
    weights carry the shifts that make the same threshold right for a passage in the other language, in each
    direction (scripts/calibrate_reader.py)."""

    model: str  # the embedding model it was fitted with, or ANY_MODEL
    bias: float
    weights: dict[str, float]
    threshold: float
    passages: int  # how many top passages it was fitted reading: the answerer reads as many, no more, no fewer

    def probability(self, features: dict[str, float]) -> float:
        z = self.bias + sum(w * features[name] for name, w in self.weights.items())
        return 1 / (1 + math.exp(-max(min(z, 50.0), -50.0)))

    @classmethod
    def for_model(cls, model: str, path: Path = CALIBRATION_FILE) -> ReaderCalibration:
        """The calibration fitted with `model`'s retrieval scores, else the one that uses none of them."""
        table = json.loads(path.read_text(encoding="utf-8"))
        entry = table.get(model) or table[ANY_MODEL]
        return cls(entry["model"], entry["bias"], dict(entry["weights"]), entry["threshold"], entry["passages"])


class ReaderAnswerer(Answerer):
    """Answers with the reader's span over the top passages (as many as its calibration was fitted on); one
    instance serves many questions (the reader is thread-safe)."""

    backend = "reader"

    def __init__(self, store: PassageStore, reader: Reader, calibration: ReaderCalibration,
                 settings: AnswerSettings = AnswerSettings()) -> None:
        self.store, self.reader, self.calibration, self.settings = store, reader, calibration, settings

    @property
    def passages(self) -> int:
        return self.calibration.passages

    def stream(self, result: SearchResult, k: int) -> Iterator[AnswerEvent]:
        answer = self.answer(result, k)
        yield from stream_words(answer.answer)
        yield answer

    def read(self, result: SearchResult) -> list[Candidate]:
        """The top passages, each with the reader's span and its signals."""
        hits = result.hits[:self.passages]
        sources = [reading_source(self.store.document_text(h.passage.document), h) for h in hits]
        spans = self.reader.read(result.query, [text for _, text in sources])
        features = candidate_features(result, hits, spans)
        return [Candidate(h, s, at, src, f) for h, s, (at, src), f in zip(hits, spans, sources, features)]

    def answer(self, result: SearchResult, k: int = 5) -> Answer:
        found = {"hits": result.hits[:k], "retrieved": list(result.hits), "retrieval_query": result.query,
                 "backend": self.backend}
        candidates = [c for c in self.read(result) if c.span is not None and c.short_answer.strip()]
        if not candidates:
            return Answer(result.query, result.language, False, NOT_FOUND[result.language], None, 0.0, [], **found)
        scored = [(self.calibration.probability(c.features), c) for c in candidates]
        confidence, best = max(scored, key=lambda pair: pair[0])
        passage = best.hit.passage
        text = self.store.document_text(passage.document)
        sentence = holding_sentence(passage, best.offset + best.span.start, best.offset + best.span.end)
        # a span never runs past its sentence: the quote below must hold all of it
        start, end = trim(text, best.offset + best.span.start, min(best.offset + best.span.end, sentence.end))
        short = clean_text(text[start:end])
        if not short:
            return Answer(result.query, result.language, False, NOT_FOUND[result.language], None, 0.0, [], **found)
        quoted = self.quote(text, sentence, start, end, short, result.query)
        citation = AnswerCitation.of(1, passage, quoted, self.store.documents[passage.document])
        framed = frame_answer(result.language, quoted.text, short, passage.language)
        if confidence < self.calibration.threshold:
            return Answer(result.query, result.language, False, NOT_FOUND[result.language], None, confidence, [],
                          candidate=framed, candidate_short=short, **found)
        return Answer(result.query, result.language, True, framed, short, confidence, [citation],
                      short_span=ShortSpan(1, passage.document, start, end), **found)

    def quote(self, text: str, sentence: Sentence, start: int, end: int, short: str, question: str) -> Sentence:
        """The sentence holding the span [start, end), or for a long one its clauses around the span: exact
        document offsets, and the text shown ("…" where it was cut)."""
        source = text[sentence.start:sentence.end]
        low, high = quote_window(source, short, question, self.settings.span_quote_words)
        low, high = min(low, start - sentence.start), max(high, end - sentence.start)
        shown = ("…" if low > 0 else "") + clean_text(source[low:high]) + ("…" if high < len(source) else "")
        return Sentence(shown, sentence.start + low, sentence.start + high)


def holding_sentence(passage: Passage, start: int, end: int) -> Sentence:
    """The passage's sentence where the span starts (document offsets); the span itself when it lies in text the
    sentence splitter left out (a heading)."""
    found = next((s for s in passage.sentences if s.start <= start < s.end), None)
    return found if found is not None else Sentence("", start, end)


def frame_answer(language: str, quote: str, short: str, source_language: str) -> str:
    """The short answer first, in bold, then the quote with its marker, in the asker's language."""
    if language == VIETNAMESE:
        return f"**{short}** — theo tài liệu: “{quote}” [1]"
    if source_language == ENGLISH:
        return f"**{short}** — according to the documents: “{quote}” [1]"
    shown = english_date(short) or short
    return f"**{shown}** — the Vietnamese source says: “{quote}” [1]"
