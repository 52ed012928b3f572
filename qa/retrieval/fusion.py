"""Fusion: the dense, best-sentence and lexical scores of the candidate passages → one score each (pure numpy)."""

from __future__ import annotations

import numpy as np

from qa.settings import FusionSettings


def scale_lexical(lexical: np.ndarray, attainable: float | None = None) -> np.ndarray:
    """BM25 on a scale fusion can weigh (its raw scale depends on the corpus and the question).

    With `attainable` (the "question" scale: what a passage of average length holding each of the question's
    tokens once scores, `PassageStore.attainable_lexical`): the share of it a passage reached, about 0..1, above 1
    only for a short passage repeating the question's rare words. Without (the "best" scale): divided by the best
    candidate's BM25, so the best match has 1 however little of the question it matches."""
    top = attainable if attainable is not None else float(lexical.max()) if len(lexical) else 0.0
    return lexical / top if top > 0 else np.zeros(len(lexical), dtype=np.float32)


def fuse(dense: np.ndarray, sentence: np.ndarray, lexical: np.ndarray, same_language: np.ndarray,
         settings: FusionSettings) -> np.ndarray:
    """One score per candidate. `lexical` is already scaled to 0..1; `same_language[i]` says whether candidate i
    is in the question's language (it picks the lexical weight)."""
    lexical_weights = lexical_weights_for(same_language, settings)
    if settings.mode == "rrf":
        return (settings.dense_weight * _reciprocal_ranks(dense, settings.rrf_k)
                + settings.sentence_weight * _reciprocal_ranks(sentence, settings.rrf_k)
                + lexical_weights * np.where(lexical > 0, _reciprocal_ranks(lexical, settings.rrf_k), 0.0))
    return settings.dense_weight * dense + settings.sentence_weight * sentence + lexical_weights * lexical


def lexical_weights_for(same_language: np.ndarray, settings: FusionSettings) -> np.ndarray:
    return np.where(same_language, settings.lexical_weight_same_language, settings.lexical_weight_cross_language)


def _reciprocal_ranks(scores: np.ndarray, k: int) -> np.ndarray:
    ranks = np.empty(len(scores), dtype=np.float64)
    ranks[np.argsort(-scores, kind="stable")] = np.arange(1, len(scores) + 1)
    return 1.0 / (k + ranks)
