"""Pure metric functions: answer normalisation, EM, token F1, hit@k, MRR, nDCG, and aggregation by language.

Normalisation follows the SQuAD evaluation script (lower-case, strip punctuation and English articles, fold
white space) with two changes that matter for Vietnamese: text is NFC-normalised first, so a decomposed "à" equals
a precomposed one, and diacritics are never stripped ("Hà Nội" and "Ha Noi" are different answers; in Vietnamese a
tone mark changes the word). Punctuation is every Unicode P* character, not only ASCII.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

from qa.evaluation.datasets import order_languages
from qa.evaluation.records import LanguageMetrics, QuestionResult

_ARTICLES = {"en": re.compile(r"\b(?:a|an|the)\b", re.UNICODE)}  # Vietnamese has none to strip ("an" is a word)
_ASCII_PUNCTUATION = frozenset(string.punctuation)
_WORDS = re.compile(r"\w+", re.UNICODE)
_MARKERS = re.compile(r"\[\d+\]")  # the answer's citation markers [1], [2] are not words


def fold(text: str) -> str:
    """NFC, case-folded, white space folded: what "the same text" means when checking containment."""
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


def contains(haystack: str, needle: str) -> bool:
    """Whether `needle` occurs in `haystack` up to case, Unicode form and white space."""
    folded = fold(needle)
    return bool(folded) and folded in fold(haystack)


def contains_any(haystack: str, needles: Iterable[str]) -> bool:
    return any(contains(haystack, needle) for needle in needles)


def _is_punctuation(ch: str) -> bool:
    return ch in _ASCII_PUNCTUATION or unicodedata.category(ch).startswith("P")


def normalize_answer(text: str, language: str = "en") -> str:
    """SQuAD-style normalisation that keeps Vietnamese diacritics (see the module docstring)."""
    text = unicodedata.normalize("NFC", text).casefold()
    text = "".join(" " if _is_punctuation(ch) else ch for ch in text)
    articles = _ARTICLES.get(language)
    if articles is not None:
        text = articles.sub(" ", text)
    return " ".join(text.split())


def answer_tokens(text: str, language: str = "en") -> list[str]:
    """Tokens for F1: Unicode white space split after normalisation (a Vietnamese syllable is a token)."""
    return normalize_answer(text, language).split()


def exact_match(prediction: str | None, golds: Sequence[str], language: str = "en") -> float:
    """1.0 when the prediction equals any gold after normalisation; a missing prediction scores 0."""
    if not prediction or not golds:
        return 0.0
    predicted = normalize_answer(prediction, language)
    return float(any(predicted == normalize_answer(gold, language) for gold in golds))


def token_f1(prediction: str | None, golds: Sequence[str], language: str = "en") -> float:
    """The best bag-of-tokens F1 against any gold (SQuAD); a missing prediction scores 0."""
    if not prediction or not golds:
        return 0.0
    return max(_f1(answer_tokens(prediction, language), answer_tokens(gold, language)) for gold in golds)


def _f1(predicted: list[str], gold: list[str]) -> float:
    if not predicted or not gold:
        return float(predicted == gold)
    common = sum((Counter(predicted) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def word_count(text: str) -> int:
    """Words of an answer as a reader counts them: Unicode word runs, citation markers left out."""
    return len(_WORDS.findall(_MARKERS.sub(" ", text)))


# -------------------------------------------------------------------------------------------- ranking metrics

def first_relevant_rank(relevance: Sequence[bool]) -> int | None:
    """1-based rank of the first relevant hit, or None when none of the hits is relevant."""
    return next((rank for rank, relevant in enumerate(relevance, start=1) if relevant), None)


def hit_at(rank: int | None, k: int) -> bool:
    return rank is not None and rank <= k


def reciprocal_rank(rank: int | None) -> float:
    return 0.0 if rank is None else 1.0 / rank


def ndcg(relevance: Sequence[bool], relevant_total: int, k: int = 10) -> float:
    """Binary-relevance nDCG@k; the ideal ranking puts all `relevant_total` relevant passages first."""
    ideal_count = min(relevant_total, k)
    if ideal_count <= 0:
        return 0.0
    dcg = sum(1.0 / np.log2(rank + 1) for rank, relevant in enumerate(relevance[:k], start=1) if relevant)
    ideal = sum(1.0 / np.log2(rank + 1) for rank in range(1, ideal_count + 1))
    return float(dcg / ideal)


def percentile(values: Sequence[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if len(values) else None


def mean(values: Iterable[float | None]) -> float | None:
    """The mean of the values that apply (None is "does not apply", not zero); None when none applies."""
    present = [float(v) for v in values if v is not None]
    return sum(present) / len(present) if present else None


def ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


# ------------------------------------------------------------------------------------------------ aggregation

def summarize(rows: Sequence[QuestionResult], k: int) -> LanguageMetrics:
    """Every headline metric over `rows`; a metric with no row it applies to is None. Answer metrics are shares
    of the in-document questions (an abstention counts as not correct, not as missing), so answered_rate =
    answer_correct + wrong_rate."""
    answerable = [r for r in rows if not r.out_of_document]
    outside = [r for r in rows if r.out_of_document]
    abstained = [r for r in rows if not r.answered]
    true_abstentions = sum(1 for r in abstained if r.out_of_document)
    citations = sum(len(r.citations) for r in answerable)
    good_citations = sum(r.good_citations for r in answerable)
    latencies = [r.latency_ms for r in rows]
    return LanguageMetrics(
        n=len(rows),
        hit_1=mean(float(hit_at(r.first_relevant_rank, 1)) for r in answerable),
        hit_k=mean(float(hit_at(r.first_relevant_rank, k)) for r in answerable),
        mrr=mean(reciprocal_rank(r.first_relevant_rank) for r in answerable),
        ndcg_10=mean(r.ndcg_10 for r in answerable),
        answer_correct=mean(float(r.answer_correct) for r in answerable),
        short_holds_gold=mean(float(r.short_holds_gold) for r in answerable),
        short_em=mean(r.short_em for r in answerable),
        short_f1=mean(r.short_f1 for r in answerable),
        answered_rate=mean(float(r.answered) for r in answerable),
        wrong_rate=mean(float(r.answered and not r.answer_correct) for r in answerable),
        citation_precision=ratio(good_citations, citations),
        abstain_precision=ratio(true_abstentions, len(abstained)) if outside else None,
        abstain_recall=ratio(true_abstentions, len(outside)),
        answer_words=mean(word_count(r.answer) for r in rows if r.answered),
        latency_p50_ms=percentile(latencies, 50),
        latency_p95_ms=percentile(latencies, 95),
    )


def summarize_by_language(rows: Sequence[QuestionResult], k: int) -> dict[str, LanguageMetrics]:
    languages = order_languages(r.language for r in rows)
    return {lang: summarize([r for r in rows if r.language == lang], k) for lang in languages}


def hit_curve(rows: Sequence[QuestionResult], depth: int = 10) -> list[float] | None:
    """hit@k for k = 1..depth over the answerable rows (None when there is none): the shape of the ranking."""
    ranks = [r.first_relevant_rank for r in rows if not r.out_of_document]
    if not ranks:
        return None
    return [sum(hit_at(rank, k) for rank in ranks) / len(ranks) for k in range(1, depth + 1)]
