"""Fit the abstention model (qa/answer/abstention.py) on the dev benchmark, and show the trade-off it gives.

    .venv/bin/python scripts/calibrate_abstention.py [--holdout 0.5] [--holdout-seed 1]

Half the articles (by a seeded shuffle, seed 1 by default so that `make bench-quality`'s seed-0 split measures it
on a split it was not fitted on) are indexed; every question is asked in both languages. A question is a positive
when its article is indexed and the answer the extractive answerer would give holds a gold answer; every other
question (held-out article, or a wrong answer) is a negative. One logistic regression per case (question and
passage in the same language, or not) over the signals of `abstention_signals`, fitted by Newton's method
with a little L2; `--without` leaves a signal out, to measure what it adds. The script prints the weights to paste into abstention.py, and a trade-off table per language
with 2-fold cross-validation by article, from which the threshold (`AnswerSettings.min_confidence`) is chosen.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from qa.answer import AnswerSettings, ExtractiveAnswerer
from qa.answer.extractive import abstention_signals
from qa.embedding.embeddings import Embedder
from qa.evaluation import hold_out, load_dataset, with_questions_of
from qa.evaluation.datasets import write_documents
from qa.evaluation.metrics import contains_any
from qa.indexing.index import build_index
from qa.retrieval.retriever import Retriever

DEV = Path(__file__).resolve().parent.parent.parent / "shared" / "benchmarks" / "xquad-dev"
SIGNALS = ("sentence", "margin")


def fit(features: np.ndarray, labels: np.ndarray, l2: float = 1e-2) -> np.ndarray:
    """Logistic regression weights [bias, w1..wn] in the features' own units (standardised while fitting)."""
    mean, scale = features.mean(0), features.std(0) + 1e-9  # a left-out signal is all zeros: weight 0
    z = np.c_[np.ones(len(features)), (features - mean) / scale]
    w = np.zeros(z.shape[1])
    penalty = l2 * np.diag(np.r_[0.0, np.ones(len(w) - 1)])
    for _ in range(50):
        p = 1 / (1 + np.exp(-z @ w))
        gradient = z.T @ (p - labels) + penalty @ w
        hessian = (z * (p * (1 - p))[:, None]).T @ z + penalty
        w -= np.linalg.solve(hessian, gradient)
    raw = w[1:] / scale
    return np.r_[w[0] - (raw * mean).sum(), raw]


def predict(weights: np.ndarray, features: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-(weights[0] + features @ weights[1:])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", type=Path, default=DEV / "xquad-dev.vi.json")
    parser.add_argument("--questions", type=Path, default=DEV / "xquad-dev.en.json")
    parser.add_argument("--holdout", type=float, default=0.5)
    parser.add_argument("--holdout-seed", type=int, default=1)
    parser.add_argument("--without", choices=SIGNALS, action="append", default=[],
                        help="leave a signal out of the model (its weight is 0)")
    args = parser.parse_args()
    used = np.array([name not in args.without for name in SIGNALS])

    dataset = hold_out(with_questions_of(load_dataset(args.dataset), load_dataset(args.questions)),
                       args.holdout, args.holdout_seed)
    embedder = Embedder.load()
    rows = []  # (language, same_language, document, signals, positive, indexed)
    with tempfile.TemporaryDirectory(prefix="qa-calibrate-") as folder:
        seeds, index = Path(folder) / "seeds", Path(folder) / "index"
        write_documents(dataset, seeds)
        build_index(seeds, index, embedder=embedder)
        retriever = Retriever.load(index, embedder=embedder)
        answerer = ExtractiveAnswerer(retriever.store, AnswerSettings(), idf=retriever.store.idf)
        for question in dataset.questions:
            result = retriever.retrieve(question.question, 5)
            ranked = answerer.rank_sentences(result)
            answer = answerer.answer(result)
            text = answer.answer if answer.answered else answer.candidate or ""
            positive = question.indexed and contains_any(text, question.answers)
            same = result.language == ranked[0].hit.passage.language
            signals = np.where(used, abstention_signals(result, ranked[0]), 0.0)
            rows.append((question.language, same, question.document, signals, positive, question.indexed))

    documents = sorted({r[2] for r in rows})
    for same, name in ((True, "SAME_LANGUAGE"), (False, "CROSS_LANGUAGE")):
        part = [r for r in rows if r[1] == same]
        features = np.array([r[3] for r in part])
        labels = np.array([r[4] for r in part], dtype=float)
        weights = fit(features, labels)
        values = ", ".join(f"{k}={v:.3f}" for k, v in zip(("bias", *SIGNALS), weights))
        print(f"{name} = AbstentionWeights({values})   # {len(part)} questions, {int(labels.sum())} positive")

    print("\n2-fold cross-validation by article (fit on half the articles, judge the other half):")
    print("| language | threshold | in-doc answered | answer holds gold | answered wrongly | out-of-doc abstained |")
    print("|---|---:|---:|---:|---:|---:|")
    folds = np.array([documents.index(r[2]) // 2 % 2 for r in rows])
    confidence = np.zeros(len(rows))
    for same in (True, False):
        case = np.array([r[1] == same for r in rows])
        features = np.array([r[3] for r in rows])
        labels = np.array([r[4] for r in rows], dtype=float)
        for fold in (0, 1):
            train, test = case & (folds != fold), case & (folds == fold)
            confidence[test] = predict(fit(features[train], labels[train]), features[test])
    for language in ("vi", "en"):
        mine = np.array([r[0] == language for r in rows])
        inside = mine & np.array([r[5] for r in rows])
        outside = mine & ~inside
        positive = np.array([r[4] for r in rows])
        for threshold in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6):
            answered = confidence >= threshold
            print(f"| {language} | {threshold:.1f} | {answered[inside].mean():.3f} | "
                  f"{(answered & positive)[inside].mean():.3f} | {(answered & ~positive)[inside].mean():.3f} | "
                  f"{(~answered)[outside].mean():.3f} |")


if __name__ == "__main__":
    main()
