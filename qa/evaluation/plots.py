"""The plots of an evaluation, drawn on matplotlib's Agg canvas (no pyplot state, no display needed):
hit@k for k = 1..10, the latency histogram, and the risk–coverage curve."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from qa.evaluation.coverage import curve, judged, point_at
from qa.evaluation.datasets import order_languages
from qa.evaluation.metrics import hit_curve, percentile
from qa.evaluation.records import OVERALL, QuestionResult

HIT_CURVE_PNG = "hit_at_k.png"
LATENCY_PNG = "latency.png"
RISK_COVERAGE_PNG = "risk_coverage.png"
HIT_DEPTH = 10


def _figure():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4), dpi=100)
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot()


def _save(figure, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path)
    return path


def write_plots(out_dir: Path, rows: Sequence[QuestionResult], operating_threshold: float | None = None
                ) -> list[Path]:
    """Every plot that has something to show for `rows`; the paths written. `operating_threshold` (the run's)
    is marked on the risk–coverage curve."""
    if not rows:
        return []
    written = [plot_hit_curve(out_dir / HIT_CURVE_PNG, rows),
               plot_risk_coverage(out_dir / RISK_COVERAGE_PNG, rows, operating_threshold),
               plot_latency(out_dir / LATENCY_PNG, rows)]
    return [path for path in written if path is not None]


def plot_hit_curve(path: Path, rows: Sequence[QuestionResult]) -> Path | None:
    """hit@k per language (and overall when there are several); None when no question is in the documents."""
    languages = order_languages(r.language for r in rows)
    curves = {lang: hit_curve([r for r in rows if r.language == lang], HIT_DEPTH) for lang in languages}
    if len(languages) > 1:
        curves[OVERALL] = hit_curve(rows, HIT_DEPTH)
    if all(c is None for c in curves.values()):
        return None
    figure, axes = _figure()
    ks = list(range(1, HIT_DEPTH + 1))
    for name, values in curves.items():
        if values is not None:
            axes.plot(ks, values, marker="o", label=name, linestyle="--" if name == OVERALL else "-")
    axes.set(xlabel="k", ylabel="hit@k (share of answerable questions)", ylim=(0, 1.02), xticks=ks,
             title="Retrieval: a passage holding the gold answer in the top k")
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right")
    return _save(figure, path)


def plot_risk_coverage(path: Path, rows: Sequence[QuestionResult], operating_threshold: float | None = None) -> Path:
    """Accuracy of the answered questions against the share answered, one curve per language, as the confidence
    threshold sweeps down; the assistant's operating point (`operating_threshold`, unless None) is marked on each."""
    figure, axes = _figure()
    for lang in order_languages(r.language for r in rows):
        items = judged([r for r in rows if r.language == lang])
        points = curve(items)
        line, = axes.plot([p.coverage for p in points], [p.accuracy for p in points], label=lang)
        if operating_threshold is None:
            continue
        operating = point_at(items, operating_threshold)
        if operating.accuracy is not None:
            axes.plot([operating.coverage], [operating.accuracy], marker="o", markersize=8, color=line.get_color())
            axes.annotate(f"t={operating_threshold:g}: {operating.coverage:.0%} answered, {operating.accuracy:.0%} right",
                          (operating.coverage, operating.accuracy), textcoords="offset points", xytext=(-8, 8),
                          ha="right", fontsize=8, color=line.get_color())
    axes.set(xlabel="coverage (share of all questions answered)", ylabel="accuracy of the answered",
             xlim=(0, 1.02), ylim=(0, 1.02), title="Risk–coverage: sweeping the confidence threshold")
    axes.grid(alpha=0.3)
    axes.legend(loc="lower left")
    return _save(figure, path)


def plot_latency(path: Path, rows: Sequence[QuestionResult]) -> Path:
    """Latency per question (retrieve + answer), stacked by language, with p50 and p95 marked."""
    figure, axes = _figure()
    languages = order_languages(r.language for r in rows)
    values = [[r.latency_ms for r in rows if r.language == lang] for lang in languages]
    axes.hist(values, bins=min(30, max(5, len(rows) // 3)), label=languages, stacked=True)
    latencies = [r.latency_ms for r in rows]
    p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
    axes.axvline(p50, color="black", linestyle="--", linewidth=1, label=f"p50 {p50:.0f} ms")
    axes.axvline(p95, color="red", linestyle=":", linewidth=1, label=f"p95 {p95:.0f} ms")
    axes.set(xlabel="latency per question, retrieve + answer (ms)", ylabel="questions", title="Latency")
    axes.legend()
    return _save(figure, path)
