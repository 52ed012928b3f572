"""Answer quality over an index that holds both languages: the dev benchmark's articles in Vietnamese *and* in
English, in one index, asked in both languages.

    .venv/bin/python scripts/bench_mixed.py [--split] [--holdout 0.5] [--holdout-seed 0] [-k 5] [--out DIR]
    make bench-mixed

A bilingual user's documents are rarely in one language, and the dev benchmark indexes one language at a time, so
it never shows which language's passage a question is answered from. Here each article is indexed twice (its
Vietnamese text and its English one, as two documents), and a passage of either counts: a question's gold answers
are its Vietnamese and its English ones together. Two runs, as `make bench-quality`:

- full: all 48 documents indexed; every question asked in both languages.
- holdout: a seeded fraction of the articles left out in *both* languages; only their questions asked, now out of
  the documents.

`--split` indexes each article in one language only (the first, third, … article in Vietnamese, the others in
English): every fact is then in one language, and half of each language's questions must be answered across
languages from an index where the other half's text is in their own language.

OUT/table.md holds the usual rows plus where answers come from (the share of answers citing a document in the
question's own language); OUT/summary.json the values; OUT/<run>/ each run's `qa eval` outputs.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

from qa.embedding.embeddings import Embedder
from qa.evaluation import EvalRun, hold_out, load_dataset
from qa.evaluation.datasets import Dataset, DatasetError, Holdout, align_questions
from qa.language import ENGLISH
from benchkit.timing import write_report  # scripts/benchkit, beside this file
from bench_quality import DEV, FULL, HOLDOUT, LANGUAGES, full_and_holdout, log, quality_table, table_values

OTHER_SUFFIX = ".en.txt"  # the English copy of an article: "0003_teacher.txt" → "0003_teacher.en.txt"


def english_copy(name: str) -> str:
    """The English copy's document name, made from its Vietnamese article's (the two files' titles may differ)."""
    return name.removesuffix(".txt") + OTHER_SUFFIX


def mixed_dataset(vietnamese: Dataset, english: Dataset) -> Dataset:
    """Both texts as documents of one index (the two files hold the same articles in the same order); each question
    in both languages, a passage of either text counting (its gold answers are both texts' answers, and it names no
    gold document)."""
    if len(vietnamese.documents) != len(english.documents):
        raise DatasetError(f"{english.path} has {len(english.documents)} articles and {vietnamese.path} "
                           f"{len(vietnamese.documents)}: the two texts must hold the same articles, in order")
    copies = tuple(dataclasses.replace(other, name=english_copy(own.name))
                   for own, other in zip(vietnamese.documents, english.documents))
    worded = align_questions(vietnamese, english)  # the English wording of each question (missing ids: an error)
    english_gold = {q.id: q.answers for q in english.questions}
    questions = tuple(dataclasses.replace(q, answers=tuple(dict.fromkeys(q.answers + english_gold[q.id])),
                                          document=None) for q in vietnamese.questions + worded.questions)
    return dataclasses.replace(vietnamese, documents=vietnamese.documents + copies, questions=questions,
                               questions_path=english.path)


def one_language_each(dataset: Dataset, vietnamese: Dataset) -> Dataset:
    """`dataset` (from `mixed_dataset`) with each article in one language only, Vietnamese at even positions and
    English at odd ones; each question names its article's indexed copy as its gold document, so that a passage
    of another article that happens to hold the gold words does not count as found (as in the one-language runs)."""
    indexed = {own.name: own.name if n % 2 == 0 else english_copy(own.name)
               for n, own in enumerate(vietnamese.documents)}
    article = {q.id: q.document for q in vietnamese.questions}
    kept = set(indexed.values())
    documents = tuple(d for d in dataset.documents if d.name in kept)
    questions = tuple(dataclasses.replace(q, document=indexed[article[q.id]]) for q in dataset.questions)
    return dataclasses.replace(dataset, documents=documents, questions=questions)


def hold_out_articles(dataset: Dataset, vietnamese: Dataset, fraction: float, seed: int) -> Dataset:
    """`qa eval --holdout`'s choice of articles (`hold_out` on the Vietnamese text), each left out in every language
    it is indexed in; only their questions kept, as out-of-document questions."""
    chosen = set(hold_out(vietnamese, fraction, seed).holdout.documents)
    held = chosen | {english_copy(name) for name in chosen}
    article = {q.id: q.document for q in vietnamese.questions}
    questions = tuple(dataclasses.replace(q, indexed=False) for q in dataset.questions if article[q.id] in chosen)
    documents = tuple(d for d in dataset.documents if d.name not in held)
    left_out = tuple(d.name for d in dataset.documents if d.name in held)  # with --split, one copy of each
    return dataclasses.replace(dataset, documents=documents, questions=questions,
                               holdout=Holdout(fraction, seed, left_out))


def own_language_share(result: EvalRun, language: str) -> float | None:
    """Of the questions asked in `language` and answered, the share whose answer cites a document in that language
    (the reader's answers cite one passage; an answer citing none is not counted); None when none was answered."""
    answered = [r for r in result.rows if r.language == language and r.answered and r.citations]
    if not answered:
        return None
    return sum(all(c["document"].endswith(OTHER_SUFFIX) == (language == ENGLISH) for c in r.citations)
               for r in answered) / len(answered)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vi", type=Path, default=DEV / "xquad-dev.vi.json", help="the Vietnamese SQuAD file")
    parser.add_argument("--en", type=Path, default=DEV / "xquad-dev.en.json", help="the same articles in English")
    parser.add_argument("--holdout", type=float, default=0.5, help="fraction of the articles left out")
    parser.add_argument("--holdout-seed", type=int, default=0)
    parser.add_argument("-k", type=int, default=5)
    parser.add_argument("--split", action="store_true",
                        help="each article in one language only (alternately Vietnamese and English)")
    parser.add_argument("--out", type=Path, help="default: eval-out/bench-mixed (with --split: bench-mixed-split)")
    args = parser.parse_args()
    args.out = args.out or Path("eval-out") / ("bench-mixed-split" if args.split else "bench-mixed")

    started = time.perf_counter()
    vietnamese = load_dataset(args.vi)
    full_set = mixed_dataset(vietnamese, load_dataset(args.en))
    if args.split:
        full_set = one_language_each(full_set, vietnamese)
    held_set = hold_out_articles(full_set, vietnamese, args.holdout, args.holdout_seed)
    embedder = Embedder.load(log=log)
    with tempfile.TemporaryDirectory(prefix="bench-mixed-") as scratch:
        runs = full_and_holdout(full_set, held_set, args, embedder, Path(scratch))
    total = time.perf_counter() - started

    shares = {lang: own_language_share(runs[FULL], lang) for lang in LANGUAGES}
    table = [*quality_table(runs, args.k), "| answers citing the question's language | " + " | ".join(
        "—" if shares[lang] is None else f"{100 * shares[lang]:.1f}%" for lang in LANGUAGES) + f" | {FULL} |"]
    indexed = ("each article in one language, alternately; a passage of the question's own article counts"
               if args.split else "each article in Vietnamese and in English; a passage of either text counts")
    notes = [f"one index of {len(full_set.documents)} documents ({indexed}).",
             f"holdout: {len(held_set.holdout.documents)} documents left out (--holdout {args.holdout} "
             f"--holdout-seed {args.holdout_seed}), {len(held_set.questions)} questions asked out of the documents.",
             f"eval wall time: full {runs[FULL].wall_seconds:.1f} s, holdout {runs[HOLDOUT].wall_seconds:.1f} s; "
             f"{total:.0f} s in all."]
    summary = {"table": {**table_values(runs), "own_language_share": {**shares, "from": FULL}}, "notes": notes,
               "wall_seconds": round(total, 1), "runs": {n: r.metrics.to_dict() for n, r in runs.items()}}
    write_report(args.out, summary, [*table, "", *notes], json_name="summary.json", table_name="table.md")
    print(f"\nwrote table.md, summary.json and one folder a run to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
