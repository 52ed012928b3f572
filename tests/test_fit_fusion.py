"""`make fit-fusion` (scripts/fit_fusion.py): questions grouped by index and language, candidates ranked exactly as
the retriever ranks them, and weights chosen on some articles and scored on the others."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import fit_fusion  # noqa: E402 — scripts/, beside bench_mixed, bench_quality and benchkit, which it imports

from qa.retrieval.fusion import fuse, scale_lexical  # noqa: E402
from qa.settings import FusionSettings  # noqa: E402


def asked(article: str, lexical: list[float], relevant: int, group: str = "vi over vi text",
          attainable: float = 10.0) -> fit_fusion.Asked:
    """Two candidates alike but for BM25; the relevant one is `relevant`."""
    return fit_fusion.Asked(group, article, np.array([0.8, 0.8]), np.array([0.8, 0.8]), np.array(lexical),
                            attainable, np.array([True, True]), np.array([i == relevant for i in range(2)]))


def test_groups_name_the_question_language_and_where_its_answer_is():
    assert fit_fusion.group_of("vi text", "en", "a.txt") == "en over vi text"
    assert fit_fusion.group_of("split", "vi", "a.en.txt") == "vi over en text (split)"
    assert fit_fusion.group_of("split", "en", "b.txt") == "en over vi text (split)"
    assert fit_fusion.group_of("both", "vi", None) == "vi (both)"


def test_candidates_are_ranked_as_the_retriever_ranks_them():
    rng = np.random.default_rng(0)
    settings = FusionSettings()
    for _ in range(20):
        n = 12
        a = fit_fusion.Asked("g", "x", rng.random(n), rng.random(n), rng.random(n) * 5, 7.0,
                             rng.random(n) > 0.5, rng.random(n) > 0.7)
        scores = fuse(a.dense, a.sentence, scale_lexical(a.lexical, a.attainable), a.same_language, settings)
        first = np.nonzero(a.relevant[np.argsort(-scores, kind="stable")])[0]
        expected = int(first[0]) + 1 if len(first) else None
        assert fit_fusion.ranks(settings, [a]) == {"g": [expected]}
    # no candidate holds the answer: counted, never found
    assert fit_fusion.top1(settings, [asked("x", [1, 0], relevant=5)]) == {"vi over vi text": 0.0}


def test_weights_are_chosen_on_half_the_articles_and_scored_on_the_other():
    """BM25 picks the right passage in every article: a fit must find a lexical weight that lets it decide, and
    the held-out figures are those of the other half's articles."""
    questions = [asked(f"article{n}", [0.0, 4.0], relevant=1) for n in range(8)]
    held, chosen = fit_fusion.cross_validated(questions, seeds=2)
    assert held == {"vi over vi text": 1.0} and len(chosen) == 4
    assert all(s in fit_fusion.grid() for s in chosen)
    # where BM25 points away from the answer, no weight makes it right, and held-out says so
    wrong = [asked(f"article{n}", [4.0, 0.0], relevant=1) for n in range(8)]
    assert fit_fusion.cross_validated(wrong, seeds=1)[0] == {"vi over vi text": 0.0}


def test_the_score_breaks_top1_ties_by_mrr():
    second = [fit_fusion.Asked("g", "x", np.array([0.9, 0.8, 0.1]), np.array([0.9, 0.8, 0.1]),
                               np.zeros(3), 1.0, np.array([True] * 3), np.array([False, True, False]))]
    third = [fit_fusion.Asked("g", "x", np.array([0.9, 0.1, 0.8]), np.array([0.9, 0.1, 0.8]),
                              np.zeros(3), 1.0, np.array([True] * 3), np.array([False, True, False]))]
    assert fit_fusion.score(FusionSettings(), second) == pytest.approx((0.0, 0.5))
    assert fit_fusion.score(FusionSettings(), third) == pytest.approx((0.0, 1 / 3))
