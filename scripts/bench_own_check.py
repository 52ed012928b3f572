"""The reader on text that is not translated Wikipedia, written for this project: a school library's regulations
(tests/data/own_check) and a local news report (tests/data/own_check_news), each with 40 questions on its text,
20 that it answers and 20 on the same topic that it does not; and twelve short texts of six genres
(tests/data/own_check_written: 72 questions they answer, 48 they do not), held out of the written training passages
(scripts/data/written-qa.jsonl) and written the same way, so a check of that data's own kind, not an unseen one;
and eight three-paragraph documents held out of scripts/data/written-qa-documents.jsonl
(tests/data/own_check_documents: 144 questions they answer, 96 on their topic that no paragraph answers), where every
paragraph of a document looks relevant and one answers, the case that similarity alone cannot tell apart.
Every question is asked in Vietnamese (gold.jsonl) and, translated by hand, in English (gold.en.jsonl:
cross-lingual, the answers are the Vietnamese text's).

    .venv/bin/python scripts/bench_own_check.py [--out eval-out/own-check] [--only own_check_news]
    make bench-own

Prints each question with the answer (or the abstention) and a summary per set and language: answered right,
answered wrongly, abstained on the unanswerable ones. The rows go to OUT/SET/per_question.jsonl and
OUT/SET/per_question.en.jsonl.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from qa.embedding.embeddings import Embedder, query_encoder
from qa.evaluation import RowWriter, evaluate, load_dataset
from qa.indexing.index import build_index
from qa.retrieval.retriever import Retriever

ROOT = Path(__file__).resolve().parent.parent
CHECKS = tuple(ROOT / "tests" / "data" / name for name in ("own_check", "own_check_news", "own_check_written",
                                                             "own_check_documents"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("eval-out") / "own-check")
    parser.add_argument("--only", choices=[c.name for c in CHECKS], help="one set instead of all")
    args = parser.parse_args()
    embedder = Embedder.load()
    summaries = []
    for folder in (c for c in CHECKS if args.only in (None, c.name)):
        print(f"# {folder.name}")
        with tempfile.TemporaryDirectory(prefix="own-check-") as scratch:  # each set its own index
            build_index(folder / "docs", Path(scratch) / "index", embedder=embedder, log=lambda m: None)
            retriever = Retriever.load(Path(scratch) / "index", embedder=query_encoder(embedder))
            for language, gold, rows in (("vi", "gold.jsonl", "per_question.jsonl"),
                                         ("en", "gold.en.jsonl", "per_question.en.jsonl")):
                summaries.append(f"{folder.name} {language}: "
                                 f"{check(retriever, folder / gold, args.out / folder.name / rows)}")
    print()
    print("\n".join(summaries))


def check(retriever: Retriever, gold: Path, rows: Path) -> str:
    """Ask one file's questions, print each answer, and give the summary line."""
    with RowWriter(rows) as writer:
        run = evaluate(load_dataset(gold), retriever=retriever, on_row=writer.write)
    inside = [r for r in run.rows if not r.out_of_document]
    outside = [r for r in run.rows if r.out_of_document]
    for row in run.rows:
        verdict = ("abstained" if not row.answered else "right" if row.answer_correct else
                   "ANSWERED (should abstain)" if row.out_of_document else "WRONG")
        shown = row.short_answer if row.answered else "—"
        print(f"{row.id}  {verdict:<26} {row.question}  →  {shown}  (confidence {row.confidence:.2f})")
    right = sum(bool(r.answer_correct) for r in inside)
    wrong = sum(r.answered and not r.answer_correct for r in inside)
    short = sum(bool(r.short_holds_gold) for r in inside)
    abstained = sum(not r.answered for r in outside)
    return (f"answerable {len(inside)}: answered right {right}, short answer holds gold {short}, answered wrongly "
            f"{wrong}, abstained {len(inside) - right - wrong}; unanswerable {len(outside)}: abstained {abstained}")


if __name__ == "__main__":
    main()
