"""The assistant: a question (and the conversation before it) in, an answer's events out.

It validates the question, resolves a follow-up against the earlier questions for retrieval only (the answer is
still framed for, and typed by, the question the user asked), retrieves deep enough for its answerer, and passes
the answerer's events on. The CLI, the chat and the HTTP API all answer through `Assistant.stream`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from qa.answer.base import AnswerEvent, Answerer, final_answer
from qa.answer.conversation import contextualize
from qa.answer.extractive import ExtractiveAnswerer
from qa.answer.reading import ReaderAnswerer, ReaderCalibration
from qa.answer.llm import LLMAnswerer
from qa.answer.records import Answer, AnswerSettings, LLMSettings
from qa.errors import InvalidArgumentError
from qa.language import detect_language
from qa.reader import load_reader
from qa.records import SearchResult
from qa.retrieval.retriever import Retriever, validate_k, validate_question

if TYPE_CHECKING:
    from qa.reader.model import Reader


class Assistant:
    """Answers questions from a `Retriever`'s passages; one instance serves many questions (the model loads once).

    By default the answers are extractive; with `llm` an OpenAI-compatible server writes them from the same
    passages (verified, else the extractive answer); `answerer` plugs in any other `Answerer`.
    """

    def __init__(self, retriever: Retriever, *, settings: AnswerSettings = AnswerSettings(),
                 llm: LLMSettings | None = None, answerer: Answerer | None = None,
                 reader: Reader | None | bool = True) -> None:
        if answerer is not None and llm is not None:
            raise InvalidArgumentError("Give the assistant an answerer or LLM settings, not both.")
        self.retriever = retriever
        self.settings = settings
        self.llm = llm
        if reader is True:  # the shipped reader, unless answers are configured without one
            reader = load_reader(precision=settings.reader_precision) if settings.reader and answerer is None else None
        self.reader: Reader | None = reader or None
        self.answerer: Answerer = answerer if answerer is not None else default_answerer(retriever, settings, llm,
                                                                                          self.reader)
        self._custom_answerer = answerer is not None

    def with_retriever(self, retriever: Retriever) -> Assistant:
        """The same assistant over another retriever (a rebuilt index): the built-in answerers are rebuilt over
        its index with the same settings and LLM backend; a custom answerer is kept as it is."""
        if self._custom_answerer:
            return Assistant(retriever, settings=self.settings, answerer=self.answerer)
        return Assistant(retriever, settings=self.settings, llm=self.llm, reader=self.reader)

    def stream(self, question: str, history: Sequence[str] = (), k: int = 5) -> Iterator[AnswerEvent]:
        """Text deltas, then the final `Answer` (see `Answerer.stream`) for `question`, a follow-up of the earlier
        questions `history` (oldest first) when it reads as one. Raises `InvalidQuestionError` for an empty or
        overlong question and `InvalidArgumentError` for a bad k or history, on the first `next()`.

        The answer's `retrieval_query` is what retrieval searched with; its `retrieved` hits hold every passage
        it may cite, so a caller can show each citation's passage.
        """
        if isinstance(history, str) or not isinstance(history, Sequence):
            raise InvalidArgumentError("history must be a sequence of the earlier questions (or empty).")
        question = validate_question(question)
        validate_k(k)
        query = contextualize(question, history)
        result = self.retriever.retrieve(query, k=max(k, self.answerer.passages))
        if query != question:
            result = dataclasses.replace(result, query=question, language=detect_language(question))
        for event in self.answerer.stream(result, k):
            yield dataclasses.replace(event, retrieval_query=query) if isinstance(event, Answer) else event

    def ask(self, question: str, history: Sequence[str] = (), k: int = 5) -> Answer:
        """The final answer of `stream(question, history, k)`."""
        return final_answer(self.stream(question, history, k))

    def answer_from(self, result: SearchResult, k: int = 5) -> Answer:
        """The answer for an already retrieved `result` (retrieved at depth ≥ max(k, `self.answerer.passages`)),
        so a caller can time or reuse retrieval itself; no follow-up resolution."""
        return final_answer(self.answerer.stream(result, k))


def default_answerer(retriever: Retriever, settings: AnswerSettings = AnswerSettings(),
                     llm: LLMSettings | None = None, reader: Reader | None = None) -> Answerer:
    """The reading answerer over the retriever's index (the extractive one without a reader), wrapped by the LLM
    answerer when `llm` is set."""
    if reader is not None:
        calibration = ReaderCalibration.for_model(retriever.embedder.name)
        base: Answerer = ReaderAnswerer(retriever.store, reader, calibration, settings)
    else:
        base = ExtractiveAnswerer(retriever.store, settings, idf=retriever.store.idf)
    return base if llm is None else LLMAnswerer(llm, base)
