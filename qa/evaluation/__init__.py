"""Benchmark evaluation: run a gold set through retrieval and the assistant and measure both.

`evaluate(dataset, ...)` is the engine (see `runner`); `datasets` loads the JSONL and SQuAD formats, `metrics`
holds the pure scoring functions, `report` the presentation (rich table, report.md, plots, --compare), and
`command` the `qa eval` CLI.
"""

from qa.evaluation.datasets import (Dataset, DatasetError, GoldQuestion, SourceDocument, align_questions,
                                    load_dataset, write_documents)
from qa.evaluation.metrics import (contains, exact_match, fold, hit_at, ndcg, normalize_answer, reciprocal_rank,
                                   summarize, summarize_by_language, token_f1)
from qa.evaluation.records import EvalMetrics, LanguageMetrics, QuestionResult
from qa.evaluation.runner import EvalRun, RowWriter, evaluate, run_questions

__all__ = [
    "Dataset", "DatasetError", "GoldQuestion", "SourceDocument", "align_questions", "load_dataset",
    "write_documents", "contains", "exact_match", "fold", "hit_at", "ndcg", "normalize_answer", "reciprocal_rank",
    "summarize", "summarize_by_language", "token_f1", "EvalMetrics", "LanguageMetrics", "QuestionResult", "EvalRun",
    "RowWriter", "evaluate", "run_questions",
]
