"""Benchmark evaluation: run a gold set through retrieval and the assistant and measure both.

`evaluate(dataset, ...)` is the engine (see `runner`); `datasets` loads the JSONL and SQuAD formats (and holds
articles out of the index), `metrics` and `coverage` hold the pure scoring functions, `report` and `plots` the
presentation (rich table, report.md, plots, --compare); the `qa eval` command over it is `qa.cli.eval`.
"""

from qa.evaluation.coverage import point_at, risk_coverage
from qa.evaluation.datasets import (Dataset, DatasetError, GoldQuestion, Holdout, HoldoutError, SourceDocument,
                                    align_questions, hold_out, load_dataset, with_questions_of, write_documents)
from qa.evaluation.metrics import (contains, exact_match, fold, hit_at, ndcg, normalize_answer, reciprocal_rank,
                                   summarize, summarize_by_language, token_f1)
from qa.evaluation.records import CoveragePoint, EvalMetrics, LanguageMetrics, QuestionResult, RiskCoverage
from qa.evaluation.runner import EvalRun, RowWriter, evaluate, run_questions

__all__ = [
    "CoveragePoint", "RiskCoverage", "point_at", "risk_coverage", "Dataset", "DatasetError", "GoldQuestion",
    "Holdout", "HoldoutError", "SourceDocument", "align_questions", "hold_out", "load_dataset", "with_questions_of",
    "write_documents", "contains", "exact_match", "fold", "hit_at", "ndcg", "normalize_answer", "reciprocal_rank",
    "summarize", "summarize_by_language", "token_f1", "EvalMetrics", "LanguageMetrics", "QuestionResult", "EvalRun",
    "RowWriter", "evaluate", "run_questions",
]
