"""What the answer stage hands out and is configured with: plain frozen records, no behaviour beyond checks.

Kept apart from the answerers so that every module of `qa.answer` (and the chat, the CLI, the evaluation) can
use them without importing one another.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

from qa.errors import InvalidArgumentError
from qa.language import ENGLISH, VIETNAMESE
from qa.reader import reader_precision
from qa.records import Document, Hit, Passage, Sentence

# What an abstaining answer says, in the asker's language (also what the LLM is told to reply when stuck).
NOT_FOUND = {
    VIETNAMESE: "Không tìm thấy thông tin này trong tài liệu.",
    ENGLISH: "I could not find this in the documents.",
}


# ---------------------------------------------------------------------------------------------------- answers

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
    page: int | None = None  # PDFs: the page the quote starts on

    @classmethod
    def of(cls, marker: int, passage: Passage, sentence: Sentence, document: Document) -> AnswerCitation:
        """Cite `sentence` of `passage`, quoting its exact source in the document's text."""
        return cls(marker, passage.id, passage.document, passage.title, passage.section, passage.paragraph,
                   sentence.start, sentence.end, document.text[sentence.start:sentence.end],
                   document.page_at(sentence.start))


@dataclass(frozen=True)
class ShortSpan:
    """Where the short answer lies: exact offsets into the document of citation `marker` (text[start:end])."""

    marker: int
    document: str
    start: int
    end: int


@dataclass(frozen=True)
class Answer:
    question: str
    language: str
    answered: bool
    answer: str
    short_answer: str | None
    confidence: float
    citations: list[AnswerCitation]
    hits: list[Hit] = field(repr=False)  # the top k retrieved passages (shown as "closest" when abstaining)
    backend: str = "extractive"
    candidate: str | None = None  # when abstaining: the answer that was withheld (eval's risk–coverage curve)
    fallback_reason: str | None = None  # why the LLM's answer was not used, when this is the extractive fallback
    # The text retrieval searched with: the question itself, or for a follow-up the earlier question joined to it.
    retrieval_query: str | None = None
    # Every passage the answer was made from, best first: `hits` plus any a citation points at below rank k
    # (answers read at least `Answerer.passages` passages), so a chat can show each citation's passage.
    retrieved: list[Hit] = field(default_factory=list, repr=False)
    short_span: ShortSpan | None = None  # the reader's span, when the answer has one
    candidate_short: str | None = None  # when abstaining: the short answer that was withheld
    # The LLM that wrote the answer (backend "llm"), or whose answer was not used (then `fallback_reason` says why).
    model: str | None = None
    # What the LLM call cost, when one was made (also for a fallback): seconds, seconds to the first token, and the
    # server's own token counts and rates where it reports them (llama.cpp's "timings", OpenAI's "usage").
    generation: dict | None = None

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
            "candidate": self.candidate,
            "fallback_reason": self.fallback_reason,
            "short_span": None if self.short_span is None else asdict(self.short_span),
            "model": self.model,
            "generation": self.generation,
        }


# --------------------------------------------------------------------------------------------------- settings

@dataclass(frozen=True)
class AnswerSettings:
    """How the extractive answerer picks and quotes a sentence, and when it abstains; chosen on xquad-dev
    (README, "Answers")."""

    passages: int = 3  # top passages whose sentences may answer (the reader reads as many as its calibration says)
    reader: bool = True  # answer with the trained reader when it is installed (False: the extractive answerer)
    reader_precision: str | None = None  # its graph, "fp32" or "int8"; None: $QA_READER_PRECISION, else "fp32"
    min_confidence: float = 0.25  # answer when the abstention model's confidence reaches this (qa.answer.abstention)
    # A sentence's score: its cosine with the question plus these bonuses.
    passage_weight: float = 0.5  # its passage's fused score minus the best passage's: context counts
    overlap_weight: float = 0.1  # idf-weighted share of the question's words it holds (same language only)
    phrase_weight: float = 0.1  # share of the question's two-word phrases it holds (same language only)
    anchor_weight: float = 0.03  # share of the question's names and numbers it holds (any language)
    neighbour_weight: float = 0.2  # the better cosine of the sentences beside it: what it continues or leads to
    type_weight: float = 0.03  # it holds the kind of span the question asks for (a date for "when"…)
    second_sentence_margin: float = 0.03  # a second sentence is added when it holds the asked span the first lacks
    max_quote_words: int = 50  # a longer sentence is quoted by its clauses around the answer
    span_quote_words: int = 20  # the same for the reader's answers, whose short answer already says the fact

    def __post_init__(self) -> None:
        if self.passages < 1 or self.max_quote_words < 5 or self.span_quote_words < 5:
            raise InvalidArgumentError("passages must be ≥ 1, and max_quote_words and span_quote_words ≥ 5.")
        if not 0 <= self.min_confidence <= 1:
            raise InvalidArgumentError(f"min_confidence must be within 0..1, got {self.min_confidence!r}.")
        if self.reader_precision is not None:
            reader_precision(self.reader_precision, "reader_precision")


ENV_URL = "QA_LLM_URL"
ENV_MODEL = "QA_LLM_MODEL"
ENV_API_KEY = "QA_LLM_API_KEY"
ENV_TIMEOUT = "QA_LLM_TIMEOUT"


@dataclass(frozen=True)
class LLMSettings:
    """Where the optional LLM backend (`qa.answer.llm`) sends the question and passages; checked on creation so
    a typo fails at startup, not at the first question."""

    url: str  # a base URL ("http://localhost:11434", ".../v1") or the full ".../chat/completions" URL
    model: str = "default"
    api_key: str | None = field(default=None, repr=False)  # never shown in logs or tracebacks
    timeout: float = 30.0  # seconds of silence allowed: to connect, for the first byte, and between chunks
    max_passages: int = 5  # top passages sent to the model, numbered [1]..[n]
    max_tokens: int = 512

    def __post_init__(self) -> None:
        parts = urllib.parse.urlsplit(self.url.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InvalidArgumentError(f"The LLM URL must start with http:// or https://, got {self.url!r}.")
        if not self.model.strip():
            raise InvalidArgumentError("The LLM model name is empty.")
        if not self.timeout > 0:
            raise InvalidArgumentError(f"The LLM timeout must be a positive number of seconds, got {self.timeout!r}.")
        if self.max_passages < 1 or self.max_tokens < 1:
            raise InvalidArgumentError("max_passages and max_tokens must be at least 1.")

    @classmethod
    def from_env(cls, url: str | None = None, model: str | None = None, api_key: str | None = None,
                 timeout: float | None = None, environ: Mapping[str, str] | None = None) -> LLMSettings | None:
        """Settings from the arguments, else QA_LLM_URL / QA_LLM_MODEL / QA_LLM_API_KEY / QA_LLM_TIMEOUT;
        None when no URL is configured (the generative backend is off)."""
        env = os.environ if environ is None else environ
        url = (url or env.get(ENV_URL) or "").strip()
        if not url:
            return None
        model = (model or env.get(ENV_MODEL) or "").strip() or cls.model
        api_key = (api_key or env.get(ENV_API_KEY) or "").strip() or None
        if timeout is None and env.get(ENV_TIMEOUT, "").strip():
            try:
                timeout = float(env[ENV_TIMEOUT])
            except ValueError:
                raise InvalidArgumentError(f"{ENV_TIMEOUT} must be a number of seconds, got {env[ENV_TIMEOUT]!r}.")
        return cls(url, model, api_key, cls.timeout if timeout is None else float(timeout))

    @property
    def endpoint(self) -> str:
        """The chat-completions URL: kept as given when it already ends with /chat/completions; a bare host gets
        /v1/chat/completions; any other path (".../v1", ".../openai/v1") gets /chat/completions."""
        parts = urllib.parse.urlsplit(self.url.strip())
        path = parts.path.rstrip("/")
        if not path.endswith("/chat/completions"):
            path = (path or "/v1") + "/chat/completions"
        return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))
