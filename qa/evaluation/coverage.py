"""Risk–coverage: how right the assistant would be if it answered only above some confidence threshold.

The assistant answers iff `confidence` ≥ its operating threshold (`AnswerSettings.min_confidence` for the
built-in answerer; the runner records it in the run's settings and passes it in here). Sweeping that threshold over every confidence seen shows what
moving it would buy: fewer questions answered (coverage) against a larger share of them right (accuracy). An
in-document question counts as right when its answer text, or the answer it withheld, holds a gold answer; an
out-of-document question answered at all is wrong. Pure functions over finished rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import groupby

from qa.evaluation.datasets import order_languages
from qa.evaluation.metrics import ratio
from qa.evaluation.records import OVERALL, CoveragePoint, QuestionResult, RiskCoverage

TRADEOFF_THRESHOLDS = (0.1, 0.3, 0.5, 0.7, 0.9)  # the trade-off table's fixed rows, besides the operating one
THIN_STEP = 0.01  # metrics.json keeps a point each time coverage grows by this much


@dataclass(frozen=True)
class Judged:
    """A question as the curve sees it: its confidence and whether answering it would be right."""

    confidence: float
    out_of_document: bool
    right: bool  # in-document: the (would-be) answer holds a gold answer; out-of-document: always False


def judged(rows: Sequence[QuestionResult]) -> list[Judged]:
    return [Judged(r.confidence, r.out_of_document, not r.out_of_document and bool(r.holds_gold)) for r in rows]


def point_at(items: Sequence[Judged], threshold: float) -> CoveragePoint:
    """The assistant run with `threshold`: it answers the questions whose confidence is ≥ it."""
    covered = [i for i in items if i.confidence >= threshold]
    inside = [i for i in items if not i.out_of_document]
    outside = [i for i in items if i.out_of_document]
    return CoveragePoint(
        threshold=threshold,
        coverage=ratio(len(covered), len(items)),
        accuracy=ratio(sum(i.right for i in covered), len(covered)),
        answered_in_document=ratio(sum(i.confidence >= threshold for i in inside), len(inside)),
        abstained_out_of_document=ratio(sum(i.confidence < threshold for i in outside), len(outside)),
    )


def curve(items: Sequence[Judged]) -> list[CoveragePoint]:
    """One point per distinct confidence, as threshold, from the highest down (coverage rising); equal to
    `point_at` at each of them, in one pass over the sorted questions."""
    inside = sum(not i.out_of_document for i in items)
    outside = len(items) - inside
    points = []
    covered = right = covered_inside = 0
    ordered = sorted(items, key=lambda i: i.confidence, reverse=True)
    for confidence, group in groupby(ordered, key=lambda i: i.confidence):
        for item in group:
            covered += 1
            right += item.right
            covered_inside += not item.out_of_document
        points.append(CoveragePoint(confidence, covered / len(items), right / covered, ratio(covered_inside, inside),
                                    ratio(outside - (covered - covered_inside), outside)))
    return points


def thin(points: Sequence[CoveragePoint], step: float = THIN_STEP) -> list[CoveragePoint]:
    """Points at least `step` of coverage apart (and the last), so metrics.json stays small for any set size."""
    kept: list[CoveragePoint] = []
    for index, point in enumerate(points):
        if not kept or point.coverage >= kept[-1].coverage + step or index == len(points) - 1:
            kept.append(point)
    return kept


def tradeoff_thresholds(operating_threshold: float | None = None) -> list[float]:
    """The trade-off table's thresholds, ascending: the fixed ones and the operating one (once, if it is fixed)."""
    fixed = set(TRADEOFF_THRESHOLDS)
    return sorted(fixed if operating_threshold is None else fixed | {operating_threshold})


def risk_coverage(rows: Sequence[QuestionResult], operating_threshold: float | None = None) -> RiskCoverage:
    """The curve and the trade-off table; `operating_threshold` (the run's own) adds a row to the table."""
    items = judged(rows)
    return RiskCoverage(tuple(thin(curve(items))),
                        tuple(point_at(items, t) for t in tradeoff_thresholds(operating_threshold)))


def risk_coverage_by_scope(rows: Sequence[QuestionResult],
                           operating_threshold: float | None = None) -> dict[str, RiskCoverage]:
    """Per language, then overall (the same scopes as the metrics table)."""
    languages = order_languages(r.language for r in rows)
    scopes = {lang: risk_coverage([r for r in rows if r.language == lang], operating_threshold)
              for lang in languages}
    return {**scopes, OVERALL: risk_coverage(rows, operating_threshold)} if rows else {}
