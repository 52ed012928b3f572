"""Presentation of an evaluation: the terminal table (rich), metrics.json, report.md, plots, and --compare deltas.

Everything here reads `EvalRun` / `EvalMetrics` records; nothing runs the engine.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from rich.table import Table

from qa.evaluation.datasets import DatasetError, order_languages
from qa.evaluation.metrics import hit_curve
from qa.evaluation.records import LOWER_IS_BETTER, METRIC_KEYS, NEUTRAL, EvalMetrics, LanguageMetrics
from qa.evaluation.runner import NDCG_DEPTH, EvalRun

OVERALL = "overall"
RATES = frozenset(METRIC_KEYS) - {"n", "answer_words", "latency_p50_ms", "latency_p95_ms"}
HIT_CURVE_PNG = "hit_at_k.png"
LATENCY_PNG = "latency.png"
MAX_FAILURES_LISTED = 200


def metric_label(key: str, k: int | None = None) -> str:
    labels = {"n": "questions", "hit@k": f"hit@{k}" if k else "hit@k", "mrr": "MRR", "ndcg@10": "nDCG@10",
              "answer_correct": "answer correct", "short_em": "short answer EM", "short_f1": "short answer F1",
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

def write_metrics(path: Path, metrics: EvalMetrics) -> Path:
    path.write_text(json.dumps(metrics.to_dict(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path


def write_plots(out_dir: Path, run: EvalRun) -> list[Path]:
    """hit@k for k = 1..10 per language, and the latency histogram (matplotlib's Agg canvas, no pyplot state)."""
    if not run.rows:
        return []
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    written = []
    languages = order_languages(r.language for r in run.rows)
    curves = {lang: hit_curve([r for r in run.rows if r.language == lang], NDCG_DEPTH) for lang in languages}
    if len(languages) > 1:
        curves[OVERALL] = hit_curve(run.rows, NDCG_DEPTH)
    if any(curve is not None for curve in curves.values()):
        figure = Figure(figsize=(6, 4), dpi=100)
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        ks = list(range(1, NDCG_DEPTH + 1))
        for name, curve in curves.items():
            if curve is not None:
                axes.plot(ks, curve, marker="o", label=name, linestyle="--" if name == OVERALL else "-")
        axes.set(xlabel="k", ylabel="hit@k (share of answerable questions)", ylim=(0, 1.02), xticks=ks,
                 title="Retrieval: a passage holding the gold answer in the top k")
        axes.grid(alpha=0.3)
        axes.legend(loc="lower right")
        figure.tight_layout()
        figure.savefig(out_dir / HIT_CURVE_PNG)
        written.append(out_dir / HIT_CURVE_PNG)
    figure = Figure(figsize=(6, 4), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    values = [[r.latency_ms for r in run.rows if r.language == lang] for lang in languages]
    axes.hist(values, bins=min(30, max(5, len(run.rows) // 3)), label=languages, stacked=True)
    p50, p95 = run.metrics.overall.latency_p50_ms, run.metrics.overall.latency_p95_ms
    axes.axvline(p50, color="black", linestyle="--", linewidth=1, label=f"p50 {p50:.0f} ms")
    axes.axvline(p95, color="red", linestyle=":", linewidth=1, label=f"p95 {p95:.0f} ms")
    axes.set(xlabel="latency per question, retrieve + answer (ms)", ylabel="questions",
             title="Latency")
    axes.legend()
    figure.tight_layout()
    figure.savefig(out_dir / LATENCY_PNG)
    written.append(out_dir / LATENCY_PNG)
    return written


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
    lines += ["## Headline", "", *_markdown_table(metrics, run.k), "",
              "Rates are shares of the questions they apply to: retrieval and answer metrics of the answerable "
              "ones, abstention metrics (positive class: abstained) where the set has out-of-document questions; "
              "— means the metric does not apply.", ""]
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


def _failure(row) -> list[str]:
    if row.out_of_document:
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
