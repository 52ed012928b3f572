"""The risk–coverage curve: a hand-computed example, ties, thinning, the per-scope record, judging a withheld
answer, and the plot file."""

from dataclasses import replace

import pytest

from qa.answer import Answer
from qa.evaluation import GoldQuestion, point_at, risk_coverage
from qa.evaluation.coverage import (TRADEOFF_THRESHOLDS, Judged, curve, judged, risk_coverage_by_scope, thin,
                                    tradeoff_thresholds)
from qa.evaluation.plots import RISK_COVERAGE_PNG, write_plots
from qa.evaluation.records import CoveragePoint
from qa.evaluation.runner import RelevanceJudge, judge_question
from qa.records import SearchResult

from test_eval_metrics import result

# A: in, right · B: in, wrong · C: out of the documents · D: in, right but withheld · E: out
ITEMS = [Judged(0.9, False, True), Judged(0.7, False, False), Judged(0.6, True, False), Judged(0.4, False, True),
         Judged(0.2, True, False)]


def test_curve_by_hand():
    points = curve(ITEMS)
    assert [p.threshold for p in points] == [0.9, 0.7, 0.6, 0.4, 0.2]
    assert [p.coverage for p in points] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert [p.accuracy for p in points] == pytest.approx([1.0, 0.5, 1 / 3, 0.5, 0.4])
    assert [p.answered_in_document for p in points] == pytest.approx([1 / 3, 2 / 3, 2 / 3, 1.0, 1.0])
    assert [p.abstained_out_of_document for p in points] == pytest.approx([1.0, 1.0, 0.5, 0.5, 0.0])
    for point in points:
        assert point_at(ITEMS, point.threshold) == pytest.approx(point)  # the one pass agrees with the definition


def test_operating_point_answers_at_or_above_the_threshold():
    operating = point_at(ITEMS, 0.5)  # A, B and C are answered
    assert operating == pytest.approx(CoveragePoint(0.5, 0.6, 1 / 3, 2 / 3, 0.5))
    assert point_at(ITEMS, 0.7).coverage == pytest.approx(0.4)  # ≥, not >
    assert point_at(ITEMS, 0.95) == CoveragePoint(0.95, 0.0, None, 0.0, 1.0)  # nothing answered: accuracy n/a
    assert point_at([], 0.5) == CoveragePoint(0.5, None, None, None, None)
    assert curve([]) == []


def test_tied_confidences_make_one_point():
    items = [Judged(0.8, False, True), Judged(0.8, False, False), Judged(0.3, True, False)]
    points = curve(items)
    assert [p.threshold for p in points] == [0.8, 0.3]
    assert [p.coverage for p in points] == pytest.approx([2 / 3, 1.0])
    assert [p.accuracy for p in points] == pytest.approx([0.5, 1 / 3])
    assert points[0].abstained_out_of_document == 1.0 and points[1].answered_in_document == 1.0


def test_thinning_keeps_coverage_steps_and_the_last_point():
    points = [CoveragePoint(1 - i / 64, i / 64, 1.0, None, None) for i in range(1, 65)]
    kept = thin(points, 1 / 8)
    assert [p.coverage * 64 for p in kept] == [1, 9, 17, 25, 33, 41, 49, 57, 64]
    assert thin([]) == []


def test_rows_are_judged_by_the_would_be_answer_and_scoped_by_language():
    rows = [result("vi", confidence=0.9), result("vi", correct=False, confidence=0.8),
            result("en", confidence=0.3, answered=False, correct=True),  # withheld, but it held the gold
            result("en", out=True, answered=True, confidence=0.7)]
    assert judged(rows) == [Judged(0.9, False, True), Judged(0.8, False, False), Judged(0.3, False, True),
                            Judged(0.7, True, False)]
    scopes = risk_coverage_by_scope(rows)
    assert list(scopes) == ["vi", "en", "overall"]
    assert [p.threshold for p in scopes["overall"].tradeoff] == list(TRADEOFF_THRESHOLDS)
    assert scopes["en"].tradeoff[2] == CoveragePoint(0.5, 0.5, 0.0, 0.0, 0.0)
    assert risk_coverage(rows).points[-1].coverage == 1.0
    assert risk_coverage_by_scope([]) == {}


def test_the_operating_threshold_adds_a_tradeoff_row():
    rows = [result("vi", confidence=0.9), result("vi", correct=False, confidence=0.35),
            result("en", out=True, answered=True, confidence=0.25)]
    assert tradeoff_thresholds() == list(TRADEOFF_THRESHOLDS)
    assert tradeoff_thresholds(0.5) == list(TRADEOFF_THRESHOLDS)  # already a fixed row: not twice
    assert tradeoff_thresholds(0.25) == [0.1, 0.25, 0.3, 0.5, 0.7, 0.9]
    overall = risk_coverage_by_scope(rows, 0.25)["overall"]
    assert [p.threshold for p in overall.tradeoff] == [0.1, 0.25, 0.3, 0.5, 0.7, 0.9]
    assert overall.tradeoff[1] == pytest.approx(CoveragePoint(0.25, 1.0, 1 / 3, 1.0, 0.0))
    assert risk_coverage(rows, 0.25).tradeoff[1] == overall.tradeoff[1]


def test_an_abstention_keeps_its_candidate_for_the_curve():
    question = GoldQuestion("q1", "Sông dài bao nhiêu?", ("120 cây số",), "vi", None, "line 1")
    search = SearchResult(question.question, "vi", [])
    withheld = Answer(question.question, "vi", False, "Không tìm thấy.", None, 0.3, [], [],
                      candidate="Theo tài liệu: sông dài 120 cây số. [1]")
    row = judge_question(question, search, withheld, RelevanceJudge([]), 5, 12.0)
    assert row.holds_gold is True and row.answer_correct is False and row.short_holds_gold is False
    assert row.candidate == withheld.candidate and row.confidence == 0.3
    answered = replace(withheld, answered=True, answer=withheld.candidate, short_answer="120 cây số", candidate=None)
    row = judge_question(question, search, answered, RelevanceJudge([]), 5, 12.0)
    assert row.holds_gold is True and row.short_holds_gold is True
    assert row.answer_correct is False  # no citation quote holds the gold
    held_out = replace(question, indexed=False)
    row = judge_question(held_out, search, answered, RelevanceJudge([]), 5, 12.0)
    assert row.out_of_document and not row.indexed and row.holds_gold is None and row.gold == question.answers


def test_risk_coverage_plot_is_written(tmp_path):
    rows = [result("vi", confidence=0.9), result("en", correct=False, confidence=0.4),
            result("en", out=True, answered=False, confidence=0.1)]
    written = write_plots(tmp_path, rows, 0.3)
    assert tmp_path / RISK_COVERAGE_PNG in written
    assert (tmp_path / RISK_COVERAGE_PNG).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert tmp_path / RISK_COVERAGE_PNG in write_plots(tmp_path, rows)  # no operating point to mark: still drawn
    assert (tmp_path / RISK_COVERAGE_PNG).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
