"""Stage 6: answers — the sentence(s) that answer a question, quoted with citations, framed in the asker's
language, or an honest "not in the documents".

Extractive by default (no generator model, no GPU): sentences of the top passages are scored against the
question with the stored sentence vectors, word overlap, and whether they hold the kind of thing the question
asks for (a date for "when / khi nào", a number for "how many / bao nhiêu", a name for "who / ai", a place for
"where / ở đâu"). An optional LLM backend (qa.llm) can write the answer instead; it is verified against the
same citations.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING


from qa.language import ENGLISH, VIETNAMESE
from qa.records import Hit, Passage, SearchResult, Sentence
from qa.retrieval import Retriever
from qa.text import STOPWORDS, words

if TYPE_CHECKING:
    from qa.llm import LLMSettings

NOT_FOUND = {
    VIETNAMESE: "Không tìm thấy thông tin này trong tài liệu.",
    ENGLISH: "I could not find this in the documents.",
}


@dataclass(frozen=True)
class AnswerSettings:
    passages: int = 3  # top passages whose sentences may answer
    # Below these sentence scores the assistant abstains. Cross-lingual cosines run lower than same-language
    # ones, so each has its own threshold; both were calibrated on the seed gold set plus out-of-document
    # questions (README: "Abstention").
    threshold_same_language: float = 0.87
    threshold_cross_language: float = 0.79
    overlap_weight: float = 0.08  # same-language word overlap between question and sentence
    type_weight: float = 0.03  # the sentence holds the kind of span the question asks for
    unsupported_number_penalty: float = 0.05  # the question names a year or number its passage never mentions
    second_sentence_margin: float = 0.005  # a second sentence is added only when nearly as good as the first


@dataclass(frozen=True)
class AnswerCitation:
    marker: int
    passage_id: str
    document: str
    title: str
    section: str | None
    paragraph: int
    start: int
    end: int
    quote: str  # exact source text of the cited sentence: document_text[start:end]

    @classmethod
    def of(cls, marker: int, passage: Passage, sentence: Sentence, document_text: str) -> "AnswerCitation":
        """Cite `sentence` of `passage`, quoting its exact source in the document's text."""
        return cls(marker, passage.id, passage.document, passage.title, passage.section, passage.paragraph,
                   sentence.start, sentence.end, document_text[sentence.start:sentence.end])


@dataclass(frozen=True)
class Answer:
    question: str
    language: str
    answered: bool
    answer: str
    short_answer: str | None
    confidence: float
    citations: list[AnswerCitation]
    hits: list[Hit] = field(repr=False)
    backend: str = "extractive"

    def to_dict(self) -> dict:
        return {
            "question": self.question,
            "language": self.language,
            "answered": self.answered,
            "answer": self.answer,
            "short_answer": self.short_answer,
            "confidence": round(self.confidence, 4),
            "citations": [asdict(c) for c in self.citations],
            "hits": [h.to_dict() for h in self.hits],
            "backend": self.backend,
        }


@dataclass(frozen=True)
class ScoredSentence:
    hit: Hit
    index: int  # into hit.passage.sentences
    score: float
    similarity: float
    span: str | None  # the date / number / name / place it holds, when the question asks for one

    @property
    def sentence(self):
        return self.hit.passage.sentences[self.index]


# ---------------------------------------------------------------------------------------------- question types

_QUESTION_TYPES: list[tuple[str, re.Pattern]] = [
    ("how_many", re.compile(r"\b(bao nhiêu|mấy|số lượng|how many|how much|how old|how long|what percentage|"
                            r"what number|bao lâu|tỷ lệ|phần trăm)\b", re.I)),
    ("when", re.compile(r"\b(khi nào|năm nào|ngày nào|tháng nào|bao giờ|lúc nào|thời điểm nào|vào thời điểm|"
                        r"năm bao nhiêu|when|what year|what date|which year|which month|what month|what day)\b", re.I)),
    ("who", re.compile(r"(^|\s)(ai|người nào|vị nào|nhân vật nào|who|whom|whose|which person|which professor|"
                       r"which leader)\b", re.I)),
    ("where", re.compile(r"\b(ở đâu|tại đâu|nơi nào|chỗ nào|đâu|thành phố nào|khu vực nào|vùng nào|quận nào|"
                         r"where|which city|which town|which region|which district|which area|what place)\b", re.I)),
]

_MONTHS_EN = "January February March April May June July August September October November December".split()
_DATE = re.compile(
    r"(?:ngày\s+)?\d{1,2}\s+tháng\s+\d{1,2}(?:\s+năm\s+\d{3,4})?"
    r"|(?:tháng\s+\d{1,2}\s+)?năm\s+\d{3,4}"
    r"|tháng\s+\d{1,2}"
    r"|\d{1,2}\s+(?:" + "|".join(_MONTHS_EN) + r")(?:\s+\d{4})?"
    r"|(?:" + "|".join(_MONTHS_EN) + r")\s+\d{1,2}(?:,\s*\d{4})?"
    r"|\b1[5-9]\d\d\b|\b20\d\d\b", re.I)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*\s*%|\d+(?:[.,]\d{3})*(?:\s+(?:tuổi|tháng|năm|ngày|người|km|years?|months?|"
                     r"days?|people|percent))?|\b(?:một|hai|ba|bốn|năm|sáu|bảy|tám|chín|mười|vài)\s+(?:trăm|nghìn|"
                     r"ngàn|triệu|năm|tháng|ngày)\b", re.I)
_TOKEN = re.compile(r"[\w'’.-]*\w\.?|\w")
_PLACE_PREPOSITIONS = frozenset("tại ở gần đến tới về in at near to from".split())
# Capitalised only because they start a sentence: "Tại Azerbaijan" → "Azerbaijan".
_NOT_NAMES = frozenset("tháng ngày năm tại ở theo sau trong trước khi phía các những một người the in at on after "
                       "before during when".split())


def question_type(question: str) -> str | None:
    """The kind of answer asked for, by the earliest question word: "Who was president when…" asks who."""
    found = [(match.start(), name) for name, pattern in _QUESTION_TYPES if (match := pattern.search(question))]
    return min(found)[1] if found else None


_QUESTION_NUMBER = re.compile(r"\b\d{3,}\b")


def unsupported_numbers(question: str, evidence: str) -> set[str]:
    """Years and large numbers the question names that the evidence never mentions: a sign that it asks about
    something else ("the 2020 war" against a text about 1993–1994)."""
    return {n for n in _QUESTION_NUMBER.findall(question) if n not in evidence}


def extract_span(kind: str | None, sentence: str, question: str) -> str | None:
    """The date, number, name or place in `sentence` that the question asks for (and does not already say)."""
    if kind is None:
        return None
    asked = set(words(question))
    question_text = question.lower()

    def new(candidate: str) -> bool:
        return candidate.lower() not in question_text and not set(words(candidate)) <= asked

    if kind == "when":
        candidates = [m.group(0) for m in _DATE.finditer(sentence)]
    elif kind == "how_many":
        candidates = [m.group(0) for m in _NUMBER.finditer(sentence)]
        candidates = [c for c in candidates if not _DATE.fullmatch(c)] or candidates
        # a number whose unit the question names ("bao nhiêu tuổi" → "45 tuổi") comes first
        candidates.sort(key=lambda c: not (set(words(c)) - set(re.findall(r"\d+", c))) & asked)
    elif kind == "where":
        runs = _capitalised_runs(sentence, asked)
        candidates = [name for name, after_preposition in runs if after_preposition] + [name for name, _ in runs]
    else:
        candidates = [name for name, _ in _capitalised_runs(sentence, asked)]
    fresh = [c.strip(" ,.") for c in candidates if new(c)]
    if kind == "when" and fresh:
        return _LEADING_DATE_WORD.sub("", max(fresh, key=len))
    return fresh[0] if fresh else None


_LEADING_DATE_WORD = re.compile(r"^(?:ngày\s+|năm\s+(?=\d+$))", re.I)
_VI_DATE = re.compile(r"^(?:(\d{1,2})\s+)?(?:tháng\s+(\d{1,2}))?\s*(?:năm\s+)?(\d{3,4})?$", re.I)


def english_date(span: str) -> str | None:
    """ "15 tháng 5" → "15 May", "tháng 10 năm 1993" → "October 1993": dates read the same in any language."""
    match = _VI_DATE.match(span.strip())
    if not match or not any(match.groups()) or (match.group(1) and not match.group(2)):
        return None
    day, month, year = match.groups()
    if month and not 1 <= int(month) <= 12:
        return None
    parts = [day, _MONTHS_EN[int(month) - 1] if month else None, year]
    return " ".join(p for p in parts if p)


def _capitalised_runs(sentence: str, asked: set[str]) -> list[tuple[str, bool]]:
    """Runs of capitalised words (names, places), minus words the question already used, each with whether a
    place preposition ("tại", "ở", "in", "near") stands before it. "Nga Georgiy I. Mirsky" → the name."""
    tokens = [(m.group(0), m.start(), m.end()) for m in _TOKEN.finditer(sentence)]
    runs: list[tuple[str, bool]] = []
    i = 0
    while i < len(tokens):
        if not _capitalised(tokens[i][0]) or (i == 0 and not _capitalised_next(tokens, i)):
            i += 1
            continue
        j = i
        while j + 1 < len(tokens) and _capitalised(tokens[j + 1][0]) and \
                sentence[tokens[j][2]:tokens[j + 1][1]].strip() == "":
            j += 1
        words_in_run = [t[0].rstrip(".") if not _initial(t[0]) else t[0] for t in tokens[i:j + 1]]
        while words_in_run and words_in_run[0].lower() in asked | _NOT_NAMES:
            words_in_run.pop(0)
        while words_in_run and words_in_run[-1].lower().rstrip(".") in asked:
            words_in_run.pop()
        if words_in_run:
            preposition = i > 0 and tokens[i - 1][0].lower() in _PLACE_PREPOSITIONS
            runs.append((" ".join(words_in_run), preposition))
        i = j + 1
    return runs


def _capitalised(token: str) -> bool:
    return token[0].isupper()


def _initial(token: str) -> bool:
    return len(token) == 2 and token[0].isupper() and token[1] == "."


def _capitalised_next(tokens: list[tuple[str, int, int]], i: int) -> bool:
    """A sentence's first word counts as a name only when the next word is capitalised too."""
    return i + 1 < len(tokens) and _capitalised(tokens[i + 1][0])


# -------------------------------------------------------------------------------------------------- the assistant

class Assistant:
    """Answers questions from a `Retriever`'s passages; one instance serves many questions (the model loads once)."""

    def __init__(self, retriever: Retriever, settings: AnswerSettings = AnswerSettings(),
                 llm: LLMSettings | None = None) -> None:
        self.retriever = retriever
        self.settings = settings
        self.llm = llm  # when set, an LLM writes the answer from the same passages; verified, else extractive

    def ask(self, question: str, k: int = 5, on_delta: Callable[[str], None] | None = None) -> Answer:
        result = self.retriever.retrieve(question, k=max(k, self.settings.passages))
        return self.finish(result, k, on_delta)

    def finish(self, result: SearchResult, k: int = 5, on_delta: Callable[[str], None] | None = None) -> Answer:
        """The extractive answer, rewritten by the LLM backend when one is configured."""
        answer = self.answer_from(result, k)
        if self.llm is None:
            return answer
        from qa.llm import generate  # qa.llm imports this module

        return generate(self.llm, result, answer, document_text=self.retriever.store.document_text,
                        on_delta=on_delta)

    def answer_from(self, result: SearchResult, k: int = 5) -> Answer:
        """The extractive answer for an already retrieved result."""
        ranked = self.rank_sentences(result)
        hits = result.hits[:k]
        if not ranked:
            return Answer(result.query, result.language, False, NOT_FOUND[result.language], None, 0.0, [], hits)
        threshold = self.threshold(result.language, ranked[0].hit.passage.language)
        confidence = 1 / (1 + math.exp(-(ranked[0].score - threshold) / 0.02))  # 0.5 at the threshold
        if ranked[0].score < threshold:
            return Answer(result.query, result.language, False, NOT_FOUND[result.language], None, confidence, [],
                          hits)
        chosen = self.choose(ranked)
        citations = [self.cite(marker, item) for marker, item in enumerate(chosen, start=1)]
        short = next((item.span for item in chosen if item.span), None)
        text = frame_answer(result.language, [i.sentence.text for i in chosen], short, chosen[0].hit.passage.language)
        return Answer(result.query, result.language, True, text, short, confidence, citations, hits)

    def threshold(self, question_language: str, passage_language: str) -> float:
        if question_language == passage_language:
            return self.settings.threshold_same_language
        return self.settings.threshold_cross_language

    def rank_sentences(self, result: SearchResult) -> list[ScoredSentence]:
        kind = question_type(result.query)
        asked = {w for w in words(result.query) if w not in STOPWORDS}
        store = self.retriever.store
        query_vector = result.query_vector
        scored = []
        for hit in result.hits[:self.settings.passages]:
            row = store.row_of[hit.passage_id]
            start = store.sentence_offsets[row]
            vectors = store.sentence_vectors[start:start + len(hit.passage.sentences)]
            similarities = vectors @ query_vector
            same_language = result.language == hit.passage.language
            evidence = " ".join(filter(None, (hit.passage.title, hit.passage.section, hit.passage.text)))
            penalty = self.settings.unsupported_number_penalty if unsupported_numbers(result.query, evidence) else 0.0
            for index, sentence in enumerate(hit.passage.sentences):
                overlap = len(asked & set(words(sentence.text))) / len(asked) if asked and same_language else 0.0
                span = extract_span(kind, sentence.text, result.query)
                score = (float(similarities[index]) + self.settings.overlap_weight * overlap
                         + (self.settings.type_weight if span else 0.0) - penalty)
                scored.append(ScoredSentence(hit, index, score, float(similarities[index]), span))
        return sorted(scored, key=lambda s: -s.score)

    def choose(self, ranked: list[ScoredSentence]) -> list[ScoredSentence]:
        """One sentence, or two when the runner-up is nearly as good and adds something (often the span)."""
        best = ranked[0]
        for other in ranked[1:3]:
            close = best.score - other.score <= self.settings.second_sentence_margin
            if close and other.sentence.text != best.sentence.text:
                return sorted([best, other], key=lambda s: (s.hit.rank, s.index))
        return [best]

    def cite(self, marker: int, item: ScoredSentence) -> AnswerCitation:
        passage = item.hit.passage
        return AnswerCitation.of(marker, passage, item.sentence, self.retriever.store.document_text(passage.document))


def frame_answer(language: str, sentences: list[str], short_answer: str | None, source_language: str) -> str:
    """The answer text in the asker's language; each quoted sentence carries its marker [n]."""
    quoted = " ".join(f"{s} [{n}]" for n, s in enumerate(sentences, start=1))
    if language == VIETNAMESE:
        return f"Theo tài liệu: {quoted}"
    if source_language == ENGLISH:
        return f"According to the documents: {quoted}"
    lead = ""
    if short_answer:
        in_english = english_date(short_answer)
        lead = f"{in_english} (“{short_answer}”). " if in_english and in_english != short_answer else f"{short_answer}. "
    return f"{lead}The Vietnamese source says: “{quoted}”"


def stream_words(text: str) -> Iterator[str]:
    """The answer a few characters at a time, so a chat can show it arriving."""
    for match in re.finditer(r"\S+\s*", text):
        yield match.group(0)
