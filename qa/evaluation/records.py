"""The records an evaluation produces: one `QuestionResult` a question, `LanguageMetrics` per language, and
`EvalMetrics`, the object written to metrics.json (and read back by --compare)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

# metrics.json key ↔ dataclass field: the keys hold "@", which a field name cannot.
METRIC_KEYS: dict[str, str] = {
    "n": "n", "hit@1": "hit_1", "hit@k": "hit_k", "mrr": "mrr", "ndcg@10": "ndcg_10",
    "answer_correct": "answer_correct", "short_holds_gold": "short_holds_gold", "short_em": "short_em",
    "short_f1": "short_f1", "answered_rate": "answered_rate", "wrong_rate": "wrong_rate",
    "citation_precision": "citation_precision", "abstain_precision": "abstain_precision",
    "abstain_recall": "abstain_recall", "answer_words": "answer_words",
    "latency_p50_ms": "latency_p50_ms", "latency_p95_ms": "latency_p95_ms",
}
OVERALL = "overall"  # the scope of all languages together, next to each language
LOWER_IS_BETTER = frozenset({"wrong_rate", "latency_p50_ms", "latency_p95_ms"})
NEUTRAL = frozenset({"n", "answered_rate", "answer_words"})  # a change is neither good nor bad in itself


@dataclass(frozen=True)
class QuestionResult:
    """One question run through retrieval and the assistant, with what was checked (a per_question.jsonl row)."""

    id: str
    question: str
    language: str
    gold: tuple[str, ...]
    gold_document: str | None
    indexed: bool  # False: the gold document was held out of the index (then out_of_document too)
    out_of_document: bool
    answered: bool
    answer: str
    short_answer: str | None
    candidate: str | None  # the withheld answer when the assistant abstained
    confidence: float  # unrounded: answered iff ≥ the operating threshold (the risk–coverage curve sorts by it)
    citations: list[dict[str, Any]]
    hits: list[dict[str, Any]]  # rank, passage_id, document, score, relevant (to depth max(k, 10))
    first_relevant_rank: int | None  # None: no relevant passage retrieved (or out of document)
    relevant_passages: int  # relevant passages in the whole index (the ideal for nDCG)
    ndcg_10: float | None
    answer_correct: bool | None  # None for out-of-document questions
    holds_gold: bool | None  # the answer text, or the withheld candidate, holds a gold answer (None: out of doc)
    short_holds_gold: bool | None  # the short answer holds a gold answer (no short answer: False)
    short_em: float | None
    short_f1: float | None
    good_citations: int  # citations whose quote holds a gold answer
    latency_ms: float
    checks: dict[str, Any] = field(default_factory=dict)
    # With --llm: who wrote the answer (backend, model), why the LLM's was not used, and what its call cost.
    llm: dict[str, Any] | None = None

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
    short_holds_gold: float | None = None
    short_em: float | None = None
    short_f1: float | None = None
    answered_rate: float | None = None
    wrong_rate: float | None = None
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
class CoveragePoint:
    """The assistant run with abstention threshold `threshold` on confidence: what it would answer and how well."""

    threshold: float
    coverage: float  # share of all questions with confidence ≥ threshold (answered)
    accuracy: float | None  # share of those answered rightly (out-of-document: answering at all is wrong)
    answered_in_document: float | None  # share of in-document questions answered
    abstained_out_of_document: float | None  # share of out-of-document questions abstained on

    def to_dict(self) -> dict[str, Any]:
        return {name: _rounded(value) for name, value in asdict(self).items()}


@dataclass(frozen=True)
class RiskCoverage:
    """One scope's curve (thinned for metrics.json) and its trade-off table at a few fixed thresholds."""

    points: tuple[CoveragePoint, ...]
    tradeoff: tuple[CoveragePoint, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"points": [p.to_dict() for p in self.points], "tradeoff": [p.to_dict() for p in self.tradeoff]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RiskCoverage":
        return cls(tuple(CoveragePoint(**p) for p in data.get("points", [])),
                   tuple(CoveragePoint(**p) for p in data.get("tradeoff", [])))


@dataclass(frozen=True)
class EvalMetrics:
    """metrics.json: `questions` is the size of the set; `overall.n` the questions evaluated (fewer if stopped).

    `settings` records what produced the numbers (model, k, holdout, paths, retrieval, chunking and answer
    settings) so two runs can be told apart; files written before it existed read back with it empty."""

    dataset: str
    questions: int
    by_language: dict[str, LanguageMetrics]
    overall: LanguageMetrics
    settings: dict[str, Any] = field(default_factory=dict)
    wall_seconds: float | None = None
    risk_coverage: dict[str, RiskCoverage] = field(default_factory=dict)  # per language and "overall"

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "questions": self.questions,
            "by_language": {lang: m.to_dict() for lang, m in self.by_language.items()},
            "overall": self.overall.to_dict(),
            "settings": self.settings,
            "wall_seconds": _rounded(self.wall_seconds),
            "risk_coverage": {scope: curve.to_dict() for scope, curve in self.risk_coverage.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "EvalMetrics":
        return cls(str(data["dataset"]), int(data["questions"]),
                   {lang: LanguageMetrics.from_dict(m) for lang, m in data["by_language"].items()},
                   LanguageMetrics.from_dict(data["overall"]), dict(data.get("settings") or {}),
                   data.get("wall_seconds"),
                   {scope: RiskCoverage.from_dict(c) for scope, c in (data.get("risk_coverage") or {}).items()})


def _rounded(value: Any) -> Any:
    return round(value, 4) if isinstance(value, float) else value
