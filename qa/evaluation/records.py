"""The records an evaluation produces: one `QuestionResult` a question, `LanguageMetrics` per language, and
`EvalMetrics`, the object written to metrics.json (and read back by --compare)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

# metrics.json key ↔ dataclass field: the keys hold "@", which a field name cannot.
METRIC_KEYS: dict[str, str] = {
    "n": "n", "hit@1": "hit_1", "hit@k": "hit_k", "mrr": "mrr", "ndcg@10": "ndcg_10",
    "answer_correct": "answer_correct", "short_em": "short_em", "short_f1": "short_f1",
    "citation_precision": "citation_precision", "abstain_precision": "abstain_precision",
    "abstain_recall": "abstain_recall", "answer_words": "answer_words",
    "latency_p50_ms": "latency_p50_ms", "latency_p95_ms": "latency_p95_ms",
}
LOWER_IS_BETTER = frozenset({"latency_p50_ms", "latency_p95_ms"})
NEUTRAL = frozenset({"n", "answer_words"})  # a change is neither good nor bad in itself


@dataclass(frozen=True)
class QuestionResult:
    """One question run through retrieval and the assistant, with what was checked (a per_question.jsonl row)."""

    id: str
    question: str
    language: str
    gold: tuple[str, ...]
    gold_document: str | None
    out_of_document: bool
    answered: bool
    answer: str
    short_answer: str | None
    confidence: float
    citations: list[dict[str, Any]]
    hits: list[dict[str, Any]]  # rank, passage_id, document, score, relevant (to depth max(k, 10))
    first_relevant_rank: int | None  # None: no relevant passage retrieved (or out of document)
    relevant_passages: int  # relevant passages in the whole index (the ideal for nDCG)
    ndcg_10: float | None
    answer_correct: bool | None  # None for out-of-document questions
    short_em: float | None
    short_f1: float | None
    good_citations: int  # citations whose quote holds a gold answer
    latency_ms: float
    checks: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """Answered correctly, or (out of the documents) rightly abstained on."""
        return (not self.answered) if self.out_of_document else bool(self.answer_correct)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["gold"] = list(self.gold)
        data["passed"] = self.passed
        return data


@dataclass(frozen=True)
class LanguageMetrics:
    n: int
    hit_1: float | None = None
    hit_k: float | None = None
    mrr: float | None = None
    ndcg_10: float | None = None
    answer_correct: float | None = None
    short_em: float | None = None
    short_f1: float | None = None
    citation_precision: float | None = None
    abstain_precision: float | None = None
    abstain_recall: float | None = None
    answer_words: float | None = None
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {key: _rounded(getattr(self, name)) for key, name in METRIC_KEYS.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LanguageMetrics":
        known = {f.name for f in fields(cls)}
        values = {name: data.get(key) for key, name in METRIC_KEYS.items() if name in known}
        values["n"] = int(values.get("n") or 0)
        return cls(**values)


@dataclass(frozen=True)
class EvalMetrics:
    """metrics.json: `questions` is the size of the set; `overall.n` the questions evaluated (fewer if stopped)."""

    dataset: str
    questions: int
    by_language: dict[str, LanguageMetrics]
    overall: LanguageMetrics

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "questions": self.questions,
            "by_language": {lang: m.to_dict() for lang, m in self.by_language.items()},
            "overall": self.overall.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "EvalMetrics":
        return cls(str(data["dataset"]), int(data["questions"]),
                   {lang: LanguageMetrics.from_dict(m) for lang, m in data["by_language"].items()},
                   LanguageMetrics.from_dict(data["overall"]))


def _rounded(value: Any) -> Any:
    return round(value, 4) if isinstance(value, float) else value
