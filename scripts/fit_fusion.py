"""Fit the fusion weights (`qa.settings.FusionSettings`) on the dev benchmark, cross-validated by article.

    .venv/bin/python scripts/fit_fusion.py [--work DIR] [--out DIR] [--seeds 3]
    make fit-fusion

The dev articles are indexed four ways, each asked every question in Vietnamese and in English: the Vietnamese
text, the English text, both texts in one index ("both", a passage of either counts) and each article in one
language only ("split", alternately; `scripts/bench_mixed.py --split`). Every question's candidates are collected
once with their raw signals (`Retriever.candidates`); each setting on the grid then ranks them in numpy, so the
whole grid costs a minute. The objective is top-1 averaged over the groups (index × question language × text
language), each group counting the same, so that one kind of index cannot buy the others' losses; MRR breaks ties.
In the index of both texts only a passage in the question's own language counts: where a fact is in both
languages, the answer should quote the one the user asked in (the reader also reads it better; counting either
copy, a first fit answered 4-6 % of the questions from the other copy, and more of them wrongly).

Cross-validation: the 24 articles are split in two halves (three seeded splits); the setting that is best on one half
is scored on the other. OUT/table.md shows those held-out figures next to the settings before and as shipped, and
the setting best on all articles, which is what `FusionSettings` should hold.
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from qa.embedding.embeddings import Embedder, query_encoder
from qa.evaluation import load_dataset, with_questions_of
from qa.evaluation.datasets import Dataset, write_documents
from qa.evaluation.runner import RelevanceJudge
from qa.indexing.index import build_index
from qa.language import detect_language
from qa.retrieval.fusion import fuse, scale_lexical
from qa.retrieval.retriever import Retriever
from qa.settings import FusionSettings
from benchkit.timing import markdown_table, write_report  # scripts/benchkit, beside this file
from bench_mixed import OTHER_SUFFIX, mixed_dataset, one_language_each
from bench_quality import DEV, log

BEFORE = FusionSettings(dense_weight=0.4, sentence_weight=0.6, lexical_weight_same_language=0.1,
                        lexical_weight_cross_language=0.02, lexical_scale="best")
GRID = {"dense_weight": (0.3, 0.4, 0.5, 0.6), "lexical_weight_same_language": (0.02, 0.03, 0.05, 0.07, 0.1, 0.15),
        "lexical_weight_cross_language": (0.02, 0.05, 0.08, 0.12)}


@dataclass(frozen=True)
class Asked:
    """One question asked over one index: its group, article and candidates' raw signals (None: none relevant)."""

    group: str
    article: str
    dense: np.ndarray
    sentence: np.ndarray
    lexical: np.ndarray
    attainable: float
    same_language: np.ndarray
    relevant: np.ndarray


def indexes(vietnamese: Dataset, english: Dataset) -> dict[str, Dataset]:
    mixed = mixed_dataset(vietnamese, english)
    return {"vi text": with_questions_of(vietnamese, english), "en text": with_questions_of(english, vietnamese),
            "both": mixed, "split": one_language_each(mixed, vietnamese)}


def group_of(index: str, language: str, document: str | None) -> str:
    """"en over vi text", "vi over en text (split)", "en (both)": the question's language, then where its answer is."""
    if index == "both":
        return f"{language} (both)"
    if index == "split":
        return f"{language} over {'en' if document.endswith(OTHER_SUFFIX) else 'vi'} text (split)"
    return f"{language} over {index}"


def collect(name: str, dataset: Dataset, article: dict[str, str], embedder: Embedder, work: Path) -> list[Asked]:
    folder = work / name.replace(" ", "-")
    if not (folder / "index").exists():
        write_documents(dataset, folder / "seeds")
        build_index(folder / "seeds", folder / "index", embedder=embedder, log=log)
    retriever = Retriever.load(folder / "index", embedder=query_encoder(embedder))
    judge, asked = RelevanceJudge(retriever.passages), []
    for question in dataset.questions:
        language = detect_language(question.question)
        vector = retriever.embedder.encode_queries([question.question])[0]
        found = retriever.candidates(question.question, language, vector, retriever.settings.candidates)
        passages = retriever.store.passages.at(found.rows)
        same_language = np.array([lang == language for lang in found.languages], dtype=bool)
        relevant = np.array([judge.is_relevant(p.id, p.document, question) for p in passages], dtype=bool)
        if name == "both":
            relevant &= same_language  # with the fact in both languages, the answer should quote the user's
        asked.append(Asked(group_of(name, question.language, question.document), article[question.id],
                           found.dense, found.sentence, found.lexical,
                           retriever.store.attainable_lexical(question.question), same_language, relevant))
    retriever.store.close()
    return asked


def ranks(settings: FusionSettings, asked: list[Asked]) -> dict[str, list[int | None]]:
    """Each group's questions' first relevant rank (None: none among the candidates), ranked as `Retriever.rank`
    ranks (a stable sort: ties keep the store's order)."""
    found: dict[str, list[int | None]] = {}
    for a in asked:
        attainable = a.attainable if settings.lexical_scale == "question" else None
        scores = fuse(a.dense, a.sentence, scale_lexical(a.lexical, attainable), a.same_language, settings)
        relevant = np.nonzero(a.relevant[np.argsort(-scores, kind="stable")])[0] if len(a.relevant) else []
        found.setdefault(a.group, []).append(int(relevant[0]) + 1 if len(relevant) else None)
    return dict(sorted(found.items()))


def top1(settings: FusionSettings, asked: list[Asked]) -> dict[str, float]:
    """The share of each group's questions whose first passage is relevant."""
    return _share_first(ranks(settings, asked))


def _share_first(found: dict[str, list[int | None]]) -> dict[str, float]:
    return {group: float(np.mean([r == 1 for r in rs])) for group, rs in found.items()}


def objective(by_group: dict[str, float]) -> float:
    return float(np.mean(list(by_group.values())))


def score(settings: FusionSettings, asked: list[Asked]) -> tuple[float, float]:
    """Mean top-1 over the groups, then mean MRR (which breaks top-1's frequent ties)."""
    found = ranks(settings, asked)
    return (objective(_share_first(found)),
            objective({g: float(np.mean([1 / r if r else 0.0 for r in rs])) for g, rs in found.items()}))


def grid() -> list[FusionSettings]:
    return [FusionSettings(dense_weight=d, sentence_weight=round(1 - d, 2), lexical_weight_same_language=same,
                           lexical_weight_cross_language=cross, lexical_scale="question")
            for d, same, cross in itertools.product(*GRID.values())]


def best_of(candidates: list[FusionSettings], asked: list[Asked]) -> FusionSettings:
    """The best setting on `asked` by `score`; exact ties go to the first on the grid."""
    return max(candidates, key=lambda s: score(s, asked))


def cross_validated(asked: list[Asked], seeds: int) -> tuple[dict[str, float], list[FusionSettings]]:
    """Held-out top-1 by group, averaged over `seeds` two-fold splits of the articles, and the settings chosen."""
    articles, candidates = sorted({a.article for a in asked}), grid()
    held, chosen = [], []
    for seed in range(seeds):
        shuffled = random.Random(seed).sample(articles, len(articles))
        for half in (set(shuffled[:len(articles) // 2]), set(shuffled[len(articles) // 2:])):
            best = best_of(candidates, [a for a in asked if a.article in half])
            chosen.append(best)
            held.append(top1(best, [a for a in asked if a.article not in half]))
    return {group: float(np.mean([h[group] for h in held])) for group in held[0]}, chosen


def describe(s: FusionSettings) -> str:
    return (f"{s.dense_weight:g} / {s.sentence_weight:g} / {s.lexical_weight_same_language:g} / "
            f"{s.lexical_weight_cross_language:g}, BM25 by the {s.lexical_scale}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("eval-out") / "fit-fusion" / "indexes",
                        help="where the four indexes are built (kept: a second run reuses them)")
    parser.add_argument("--out", type=Path, default=Path("eval-out") / "fit-fusion")
    parser.add_argument("--seeds", type=int, default=3, help="two-fold splits of the articles")
    args = parser.parse_args()

    started = time.perf_counter()
    vietnamese, english = load_dataset(DEV / "xquad-dev.vi.json"), load_dataset(DEV / "xquad-dev.en.json")
    article = {q.id: q.document for q in vietnamese.questions}
    embedder = Embedder.load(log=log)
    asked = [a for name, dataset in indexes(vietnamese, english).items()
             for a in collect(name, dataset, article, embedder, args.work)]
    log(f"{len(asked)} questions' candidates collected in {time.perf_counter() - started:.0f} s; fitting…")
    held, chosen = cross_validated(asked, args.seeds)
    fitted = best_of(grid(), asked)
    old_weights = replace(BEFORE, lexical_scale="question")  # what an index built before this scale now answers with
    no_bm25 = replace(FusionSettings(), lexical_weight_same_language=0.0, lexical_weight_cross_language=0.0)
    rows = {"before (" + describe(BEFORE) + ")": top1(BEFORE, asked),
            "before's weights (" + describe(old_weights) + ")": top1(old_weights, asked),
            "no BM25 (" + describe(no_bm25) + ")": top1(no_bm25, asked),
            "shipped (" + describe(FusionSettings()) + ")": top1(FusionSettings(), asked),
            "best on one half of the articles, scored on the other": held,
            "best on all articles (" + describe(fitted) + ")": top1(fitted, asked)}
    groups = list(held)
    table = markdown_table(("top-1", *groups, "mean"),
                           [(label, *(f"{v[g]:.3f}" for g in groups), f"{objective(v):.3f}") for label, v in rows.items()],
                           align="l" + "r" * (len(groups) + 1))
    notes = [f"weights: dense / sentence / BM25 same language / BM25 across languages; grid {GRID}.",
             "chosen on each half: " + "; ".join(describe(s) for s in chosen) + ".",
             f"{len(asked)} askings (567 questions × 2 languages × 4 indexes); {time.perf_counter() - started:.0f} s."]
    summary = {"rows": rows, "fitted": asdict(fitted), "chosen": [asdict(s) for s in chosen], "notes": notes}
    write_report(args.out, summary, [*table, "", *notes], json_name="summary.json", table_name="table.md")
    print("\n".join(table + [""] + notes))
    if fitted != FusionSettings():
        print(f"\nFusionSettings differs from the fit: set {describe(fitted)} in qa/settings.py", file=sys.stderr)


if __name__ == "__main__":
    main()
