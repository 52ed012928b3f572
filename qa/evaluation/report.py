"""Presentation of an evaluation: the terminal table (rich), metrics.json, report.md and --compare deltas (the
plots are in `plots`). Everything here reads `EvalRun` / `EvalMetrics` records; nothing runs the engine.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from rich.table import Table

from qa.evaluation.datasets import DatasetError, order_languages
from qa.evaluation.plots import write_plots
from qa.evaluation.records import (LOWER_IS_BETTER, METRIC_KEYS, NEUTRAL, OVERALL, EvalMetrics, LanguageMetrics,
                                   QuestionResult)
from qa.evaluation.runner import EvalRun

RATES = frozenset(METRIC_KEYS) - {"n", "answer_words", "latency_p50_ms", "latency_p95_ms"}
MAX_FAILURES_LISTED = 200


def metric_label(key: str, k: int | None = None) -> str:
    labels = {"n": "questions", "hit@k": f"hit@{k}" if k else "hit@k", "mrr": "MRR", "ndcg@10": "nDCG@10",
              "answer_correct": "answer holds gold", "short_holds_gold": "short answer holds gold",
              "short_em": "short answer EM", "short_f1": "short answer F1",
              "answered_rate": "answered (in-document)", "wrong_rate": "answered wrongly (in-document)",
              "citation_precision": "citation precision", "abstain_precision": "abstention precision",
              "abstain_recall": "abstention recall", "answer_words": "answer words (mean)",
              "latency_p50_ms": "latency p50", "latency_p95_ms": "latency p95"}
    return labels.get(key, key)


def format_value(key: str, value: float | int | None) -> str:
    if value is None:
        return "—"
    if key in RATES:
        return f"{100 * value:.1f}%"
    if key.startswith("latency"):
        return f"{value:.0f} ms"
    if key == "answer_words":
        return f"{value:.1f}"
    return str(value)


def _columns(metrics: EvalMetrics) -> list[tuple[str, dict]]:
    languages = order_languages(metrics.by_language)
    return [(lang, metrics.by_language[lang].to_dict()) for lang in languages] + \
           [(OVERALL, metrics.overall.to_dict())]


def metrics_table(metrics: EvalMetrics, k: int | None = None, title: str | None = None) -> Table:
    """One row a metric, one column a language plus overall: fits an 80-column terminal."""
    table = Table(title=title, title_justify="left")
    columns = _columns(metrics)
    table.add_column("metric")
    for name, _ in columns:
        table.add_column(name, justify="right", style="bold" if name == OVERALL else None)
    for key in METRIC_KEYS:
        table.add_row(metric_label(key, k), *(format_value(key, values[key]) for _, values in columns))
    return table


# ------------------------------------------------------------------------------------------------------ compare

@dataclass(frozen=True)
class Delta:
    scope: str  # a language or "overall"
    metric: str  # metrics.json key
    old: float | int | None
    new: float | int | None

    @property
    def change(self) -> float | None:
        return None if self.old is None or self.new is None else self.new - self.old

    @property
    def verdict(self) -> str:
        """"better", "worse", "same" or "" (neutral metric, or not comparable)."""
        change = self.change
        if change is None or self.metric in NEUTRAL:
            return ""
        if abs(change) < 1e-9:
            return "same"
        improved = change < 0 if self.metric in LOWER_IS_BETTER else change > 0
        return "better" if improved else "worse"


def compare(old: EvalMetrics, new: EvalMetrics) -> list[Delta]:
    """Old against new per language and overall; metrics that apply to neither run are left out, and a language
    only one run has shows just its question count."""
    scopes = order_languages(set(old.by_language) | set(new.by_language))
    empty = LanguageMetrics(n=0).to_dict()
    deltas = []
    for scope in [*scopes, OVERALL]:
        before = old.overall.to_dict() if scope == OVERALL else \
            (old.by_language[scope].to_dict() if scope in old.by_language else empty)
        after = new.overall.to_dict() if scope == OVERALL else \
            (new.by_language[scope].to_dict() if scope in new.by_language else empty)
        keys = ["n"] if not before["n"] or not after["n"] else \
            [key for key in METRIC_KEYS if before[key] is not None or after[key] is not None]
        deltas.extend(Delta(scope, key, before[key], after[key]) for key in keys)
    return deltas


def format_change(delta: Delta) -> str:
    change = delta.change
    if change is None:
        return "—"
    if delta.metric in RATES:
        return f"{100 * change:+.1f} pp"
    if delta.metric.startswith("latency"):
        return f"{change:+.0f} ms"
    if delta.metric == "answer_words":
        return f"{change:+.1f}"
    return f"{change:+d}"


def compare_table(old: EvalMetrics, new: EvalMetrics, k: int | None = None, old_label: str = "old") -> Table:
    table = Table(title=f"Change against {old_label}", title_justify="left")
    for name, justify in (("scope", "left"), ("metric", "left"), ("old", "right"), ("new", "right"),
                          ("Δ", "right")):
        table.add_column(name, justify=justify)
    colour = {"better": "green", "worse": "red"}
    previous_scope = None
    for delta in compare(old, new):
        if previous_scope is not None and delta.scope != previous_scope:
            table.add_section()
        previous_scope = delta.scope
        change = format_change(delta)
        style = colour.get(delta.verdict)
        table.add_row(delta.scope, metric_label(delta.metric, k), format_value(delta.metric, delta.old),
                      format_value(delta.metric, delta.new), f"[{style}]{change}[/]" if style else change)
    return table


def load_metrics(path: Path | str) -> EvalMetrics:
    """A previous run's metrics.json, for --compare; a bad file is a `DatasetError` naming it."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise DatasetError(f"{path}: no such file (--compare takes a previous run's metrics.json)") from error
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DatasetError(f"{path}: not a readable metrics.json ({error})") from error
    try:
        return EvalMetrics.from_dict(data)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise DatasetError(f"{path}: not a metrics.json written by qa eval (missing or malformed {error})") \
            from error


# ------------------------------------------------------------------------------------------------------- files

def write_outputs(out_dir: Path, run: EvalRun, comparison: tuple[str, EvalMetrics] | None = None) -> list[Path]:
    """metrics.json, the plots and report.md in `out_dir` (per_question.jsonl is written as rows finish)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics_path = write_metrics(out_dir / "metrics.json", run.metrics)
    plots = write_plots(out_dir, run.rows, run.operating_threshold)
    return [write_report(out_dir, run, plots, comparison), metrics_path, *plots]


def write_metrics(path: Path, metrics: EvalMetrics) -> Path:
    path.write_text(json.dumps(metrics.to_dict(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path


def write_report(out_dir: Path, run: EvalRun, plots: list[Path], comparison: tuple[str, EvalMetrics] | None = None
                 ) -> Path:
    """report.md: headline table per language, plots, then every failure with question / gold / answer."""
    metrics = run.metrics
    lines = [f"# Evaluation: {run.dataset.name}", ""]
    facts = [f"questions: {len(run.dataset.questions)}", f"evaluated: {len(run.rows)}", f"k = {run.k}",
             f"format: {run.dataset.format}", datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")]
    if run.dataset.questions_path is not None:
        facts.insert(1, f"question texts from: {run.dataset.questions_path}")
    lines += [" · ".join(facts), ""]
    if run.interrupted:
        lines += [f"**Interrupted**: the metrics cover the {len(run.rows)} finished question(s) only.", ""]
    if run.dataset.holdout is not None:
        holdout = run.dataset.holdout
        lines += [f"Held out of the index (--holdout {holdout.fraction} --holdout-seed {holdout.seed}): "
                  f"{len(holdout.documents)} article(s), whose questions count as out-of-document.", ""]
    lines += ["## Headline", "", *_markdown_table(metrics, run.k), "",
              "Rates are shares of the questions they apply to: retrieval and answer metrics of the in-document "
              "ones (an abstention counts as not answered, so answered = holds gold + answered wrongly), "
              "abstention metrics (positive class: abstained) where the set has out-of-document questions; "
              "— means the metric does not apply.", ""]
    lines += _tradeoff_table(metrics)
    lines += _settings(metrics)
    if comparison is not None:
        label, old = comparison
        lines += [f"## Change against {label}", "", "| scope | metric | old | new | Δ |", "|---|---|---:|---:|---:|"]
        for delta in compare(old, metrics):
            if delta.change not in (None, 0):
                lines.append(f"| {delta.scope} | {metric_label(delta.metric, run.k)} | "
                             f"{format_value(delta.metric, delta.old)} | {format_value(delta.metric, delta.new)} | "
                             f"{format_change(delta)} |")
        lines.append("")
    if plots:
        lines += ["## Plots", ""] + [f"![{p.stem}]({p.name})" for p in plots] + [""]
    failures = [r for r in run.rows if not r.passed]
    lines += [f"## Failures ({len(failures)} of {len(run.rows)})", ""]
    for row in failures[:MAX_FAILURES_LISTED]:
        lines += _failure(row)
    if len(failures) > MAX_FAILURES_LISTED:
        lines += [f"… and {len(failures) - MAX_FAILURES_LISTED} more: see per_question.jsonl.", ""]
    path = out_dir / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _markdown_table(metrics: EvalMetrics, k: int) -> list[str]:
    columns = _columns(metrics)
    lines = ["| metric | " + " | ".join(name for name, _ in columns) + " |",
             "|---|" + "---:|" * len(columns)]
    for key in METRIC_KEYS:
        lines.append(f"| {metric_label(key, k)} | "
                     + " | ".join(format_value(key, values[key]) for _, values in columns) + " |")
    return lines


def _tradeoff_table(metrics: EvalMetrics) -> list[str]:
    """What moving the confidence threshold would do, per scope (risk_coverage.png draws the whole curve)."""
    if not metrics.risk_coverage:
        return []
    operating = metrics.settings.get("operating_threshold")  # absent from metrics.json files written before it
    answers_at = "" if operating is None else f"The assistant answers when its confidence is ≥ {operating:g}. "
    lines = ["## Confidence threshold trade-off", "",
             f"{answers_at}Accuracy: share of the answered "
             "whose answer holds a gold answer (for an out-of-document question, answering is wrong).", "",
             "| scope | threshold | coverage | accuracy | in-doc answered | out-of-doc abstained |",
             "|---|---:|---:|---:|---:|---:|"]
    for scope, curve in metrics.risk_coverage.items():
        for point in curve.tradeoff:
            marker = " (operating)" if operating is not None and point.threshold == operating else ""
            cells = [_percent(point.coverage), _percent(point.accuracy), _percent(point.answered_in_document),
                     _percent(point.abstained_out_of_document)]
            lines.append(f"| {scope} | {point.threshold}{marker} | " + " | ".join(cells) + " |")
    return lines + [""]


def _settings(metrics: EvalMetrics) -> list[str]:
    """What produced the numbers (metrics.json has the same under "settings")."""
    if not metrics.settings:
        return []
    lines = ["## Settings", ""]
    for key, value in metrics.settings.items():
        if key == "held_out_documents" and value:
            value = f"{len(value)} article(s): " + ", ".join(value)
        elif isinstance(value, dict):
            value = json.dumps(value, ensure_ascii=False)
        lines.append(f"- **{key}:** {_inline(value)}")
    if metrics.wall_seconds is not None:
        lines.append(f"- **wall time:** {metrics.wall_seconds:.1f} s (indexing, if the run builds an index, and every "
                     "question; loading the model not included)")
    return lines + [""]


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _failure(row: QuestionResult) -> list[str]:
    if row.out_of_document and not row.indexed:
        why, gold = "answered a question whose article is not indexed", " / ".join(row.gold) + " (held out)"
    elif row.out_of_document:
        why, gold = "answered a question the documents do not answer", "(not in the documents)"
    elif not row.answered:
        why, gold = "abstained", " / ".join(row.gold)
    else:
        why, gold = "the answer or its citations do not hold the gold answer", " / ".join(row.gold)
    rank = row.first_relevant_rank
    retrieval = "" if row.out_of_document else \
        (f"; gold passage at rank {rank}" if rank else "; no gold passage retrieved")
    return [f"### {_inline(row.id)} ({row.language}): {why}{retrieval}", "",
            f"- **Question:** {_inline(row.question)}",
            f"- **Gold:** {_inline(gold)}",
            f"- **Answer:** {_inline(row.answer)}",
            f"- **Short answer:** {_inline(row.short_answer or '—')} · confidence {row.confidence:.2f}", ""]


def _inline(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")
