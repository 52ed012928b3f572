"""Run a dataset's questions through retrieval and the assistant, one `QuestionResult` at a time.

Rows are yielded (and written by `RowWriter`) as they finish, so a long run stopped with Ctrl-C keeps every
finished row. Retrieval runs once per question at depth max(k, 10) (nDCG@10 needs ten hits) and the answer is
made from that same result, so the timer around both measures what a user waits for.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from qa.answer import Answer, Assistant, LLMSettings
from qa.embedding.embeddings import Embedder, query_encoder
from qa.evaluation.coverage import risk_coverage_by_scope
from qa.evaluation.datasets import Dataset, GoldQuestion, write_documents
from qa.evaluation.metrics import (contains_any, exact_match, first_relevant_rank, fold, hit_at, ndcg,
                                   summarize, summarize_by_language, token_f1)
from qa.evaluation.records import EvalMetrics, QuestionResult
from qa.indexing.index import build_index
from qa.language import detect_language
from qa.records import Passage, SearchResult
from qa.retrieval.retriever import Retriever, validate_k

NDCG_DEPTH = 10
FALLBACK_OPERATING_THRESHOLD = 0.5  # see `operating_threshold`


@dataclass
class EvalRun:
    """The outcome of `evaluate`: finished rows (all of them unless `interrupted`) and their metrics."""

    dataset: Dataset
    k: int
    rows: list[QuestionResult] = field(default_factory=list)
    interrupted: bool = False
    settings: dict[str, Any] = field(default_factory=dict)  # see `run_settings`; empty until the index is ready
    wall_seconds: float | None = None  # the whole run: indexing (SQuAD) and every question

    @property
    def metrics(self) -> EvalMetrics:
        return EvalMetrics(self.dataset.name, len(self.dataset.questions),
                           summarize_by_language(self.rows, self.k), summarize(self.rows, self.k), self.settings,
                           self.wall_seconds, risk_coverage_by_scope(self.rows, self.operating_threshold))

    @property
    def operating_threshold(self) -> float | None:
        """The confidence the assistant answered at (from `settings`); None until the index is ready."""
        return self.settings.get("operating_threshold")


class RelevanceJudge:
    """Which indexed passages hold a question's gold answer (in the gold document when the dataset names one)."""

    def __init__(self, passages: Sequence[Passage]) -> None:
        self.folded: dict[str, str] = {p.id: fold(p.text) for p in passages}
        self.by_document: dict[str | None, list[Passage]] = defaultdict(list)
        for passage in passages:
            self.by_document[passage.document].append(passage)
        self.passages = list(passages)

    def is_relevant(self, passage_id: str, document: str, question: GoldQuestion) -> bool:
        if question.out_of_document or (question.document is not None and document != question.document):
            return False
        return any(fold(answer) in self.folded[passage_id] for answer in question.answers)

    def relevant(self, question: GoldQuestion) -> list[Passage]:
        candidates = self.passages if question.document is None else self.by_document.get(question.document, [])
        return [p for p in candidates if self.is_relevant(p.id, p.document, question)]


def run_questions(questions: Sequence[GoldQuestion], retriever: Retriever, k: int = 5,
                  assistant: Assistant | None = None) -> Iterator[QuestionResult]:
    """Each question's row as soon as it is done; stop iterating (or Ctrl-C) at any time.

    Every question goes through `assistant.ask`, the path the CLI and the chat take: follow-ups (a question's
    `history`) are resolved the same way, and an LLM answerer is measured as users meet it."""
    validate_k(k)
    assistant = assistant or Assistant(retriever)
    judge = RelevanceJudge(retriever.passages)
    depth = max(k, NDCG_DEPTH)
    retriever.embedder.encode_queries(["warm-up"])  # the first call pays one-off setup; keep it out of the timings
    for question in questions:
        started = time.perf_counter()
        answer = assistant.ask(question.question, question.history, k=depth)
        latency_ms = (time.perf_counter() - started) * 1000
        result = SearchResult(answer.retrieval_query or question.question, answer.language, answer.retrieved)
        yield judge_question(question, result, answer, judge, k, latency_ms)


def judge_question(question: GoldQuestion, result: SearchResult, answer: Answer, judge: RelevanceJudge, k: int,
                   latency_ms: float) -> QuestionResult:
    """Score one answered question: retrieval ranks, answer correctness, short-answer EM/F1, citations."""
    relevance = [judge.is_relevant(h.passage_id, h.citation.document, question) for h in result.hits]
    rank = first_relevant_rank(relevance)
    relevant = judge.relevant(question)
    golds = question.answers
    quotes = [c.quote for c in answer.citations]
    language = answer_language(question, relevant)
    if question.out_of_document:
        correct = holds = short_holds = em = f1 = ndcg_10 = None
        good = 0
    else:
        good = sum(contains_any(quote, golds) for quote in quotes)
        correct = answer.answered and contains_any(answer.answer, golds) and good > 0
        would_be = answer.answer if answer.answered else answer.candidate
        holds = would_be is not None and contains_any(would_be, golds)
        short_holds = answer.short_answer is not None and contains_any(answer.short_answer, golds)
        em = exact_match(answer.short_answer, golds, language)
        f1 = token_f1(answer.short_answer, golds, language)
        ndcg_10 = ndcg(relevance, len(relevant), NDCG_DEPTH)
    checks = {
        "retrieved_rank": rank,
        "hit@1": None if question.out_of_document else hit_at(rank, 1),
        "hit@k": None if question.out_of_document else hit_at(rank, k),
        "answer_correct": correct,
        "holds_gold": holds,
        "short_holds_gold": short_holds,
        "short_em": None if em is None else em == 1.0,
        "short_f1": None if f1 is None else round(f1, 4),
        "citations_holding_gold": None if question.out_of_document else f"{good}/{len(quotes)}",
        "abstained": not answer.answered,
        "abstention_correct": (not answer.answered) == question.out_of_document,
    }
    hits = [{"rank": h.rank, "passage_id": h.passage_id, "document": h.citation.document,
             "score": round(h.score, 6), "relevant": relevant_hit}
            for h, relevant_hit in zip(result.hits, relevance)]
    return QuestionResult(
        id=question.id, question=question.question, language=question.language, gold=golds,
        gold_document=question.document, indexed=question.indexed, out_of_document=question.out_of_document,
        answered=answer.answered, answer=answer.answer, short_answer=answer.short_answer,
        candidate=answer.candidate, confidence=answer.confidence, citations=[asdict(c) for c in answer.citations],
        hits=hits, first_relevant_rank=rank, relevant_passages=len(relevant), ndcg_10=ndcg_10,
        answer_correct=correct, holds_gold=holds, short_holds_gold=short_holds, short_em=em, short_f1=f1,
        good_citations=good, latency_ms=round(latency_ms, 3), checks=checks,
        llm=None if answer.generation is None else {"backend": answer.backend, "model": answer.model,
                                                     "fallback_reason": answer.fallback_reason,
                                                     "generation": answer.generation})


def answer_language(question: GoldQuestion, relevant: Sequence[Passage]) -> str:
    """The language the gold answer is written in (its document's), which decides the articles EM/F1 strip."""
    if relevant:
        return relevant[0].language
    return detect_language(question.answers[0]) if question.answers else question.language


# ------------------------------------------------------------------------------------------------------ the run

def evaluate(dataset: Dataset, *, k: int = 5, retriever: Retriever | None = None, embedder: Embedder | None = None,
             index_dir: Path | str | None = None, model: str | None = None, workdir: Path | str | None = None,
             llm: LLMSettings | None = None, on_start: Callable[[int], None] = lambda total: None,
             on_row: Callable[[QuestionResult], None] = lambda row: None,
             log: Callable[[str], None] = lambda message: None) -> EvalRun:
    """Evaluate `dataset`; Ctrl-C ends the run early with the finished rows (`EvalRun.interrupted`).

    A SQuAD dataset brings its own contexts: they are indexed with `embedder` (or the retriever's, or `model`
    loaded) into `workdir`, a temporary folder by default. Runs that share a workdir re-embed only the articles
    the previous run did not index (a --holdout run after a full one embeds nothing). A JSONL gold set is run
    against `retriever`, or the index at `index_dir`. With `llm`, an OpenAI-compatible server writes the answers
    (verified, else the extractive fallback), exactly as `qa ask --llm` does.
    """
    validate_k(k)
    run = EvalRun(dataset, k)
    started = time.perf_counter()
    try:
        with _retriever_for(dataset, retriever, embedder, index_dir, model, workdir, log) as ready:
            assistant = Assistant(ready, llm=llm)
            run.settings = run_settings(dataset, k, ready, assistant)
            on_start(len(dataset.questions))
            for row in run_questions(dataset.questions, ready, k, assistant):
                run.rows.append(row)
                on_row(row)
    except KeyboardInterrupt:
        run.interrupted = True
    run.wall_seconds = time.perf_counter() - started
    return run


def run_settings(dataset: Dataset, k: int, retriever: Retriever, assistant: Assistant) -> dict[str, Any]:
    """What produced a run's numbers, for metrics.json: a change in any of them explains a change in a metric."""
    holdout = dataset.holdout
    return {
        "model": retriever.embedder.name,
        "k": k,
        "dataset": str(dataset.path),
        "questions": None if dataset.questions_path is None else str(dataset.questions_path),
        "holdout_fraction": None if holdout is None else holdout.fraction,
        "holdout_seed": None if holdout is None else holdout.seed,
        "held_out_documents": None if holdout is None else list(holdout.documents),
        "retrieval": asdict(retriever.settings),
        "chunking": retriever.store.manifest.chunking,
        "answer": asdict(assistant.settings),
        "backend": "llm" if assistant.llm is not None else getattr(assistant.answerer, "backend", "custom"),
        "llm": None if assistant.llm is None else {"url": assistant.llm.endpoint, "model": assistant.llm.model},
        "operating_threshold": operating_threshold(assistant),
    }


def operating_threshold(assistant: Assistant) -> float:
    """The confidence at or above which `assistant` answers: the reading answerer's calibrated threshold, else the
    extractive answerer's `AnswerSettings.min_confidence` (an LLM answerer decides through the one it wraps). An
    assistant or answerer without either (a custom one whose confidence follows its own rule) falls back to 0.5,
    the midpoint of a confidence read as a probability."""
    answerer = getattr(assistant, "answerer", None)
    deciding = getattr(answerer, "extractive", answerer)
    calibration = getattr(deciding, "calibration", None)
    if calibration is not None:
        return calibration.threshold
    return getattr(getattr(assistant, "settings", None), "min_confidence", FALLBACK_OPERATING_THRESHOLD)


@contextlib.contextmanager
def _retriever_for(dataset: Dataset, retriever: Retriever | None, embedder: Embedder | None,
                   index_dir: Path | str | None, model: str | None, workdir: Path | str | None,
                   log: Callable[[str], None]) -> Iterator[Retriever]:
    if not dataset.needs_own_index:
        if retriever is None:
            retriever = Retriever.load(index_dir or "index", model, embedder=embedder)
        yield retriever
        return
    embedder = embedder or (retriever.embedder if retriever is not None else Embedder.load(model))
    with contextlib.ExitStack() as stack:
        folder = Path(workdir) if workdir is not None else \
            Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="qa-eval-")))
        seeds, index = folder / "seeds", folder / "index"
        shutil.rmtree(seeds, ignore_errors=True)  # exactly this run's articles: held-out ones must not linger
        write_documents(dataset, seeds)
        log(f"Indexing the benchmark's {len(dataset.documents)} article(s) into {index}…")
        build_index(seeds, index, embedder=embedder, log=log)
        yield Retriever.load(index, embedder=query_encoder(embedder))  # questions as `qa ask` encodes them


class RowWriter:
    """per_question.jsonl, one row a line, flushed as each row finishes (so an interrupted run keeps them)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle: IO[str] = open(self.path, "w", encoding="utf-8")

    def write(self, row: QuestionResult) -> None:
        self._handle.write(json.dumps(row.to_dict(), ensure_ascii=False) + "\n")
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> "RowWriter":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
