"""Answer quality on the bilingual dev benchmark in one command: one table, Vietnamese and English side by side.

    .venv/bin/python scripts/bench_quality.py [--holdout 0.5] [--holdout-seed 0] [-k 5] [--out DIR] [--quantize int8]
    make bench-quality

`--quantize int8` builds the indexes with the int8 passage encoder (`qa index --quantize int8`); questions are
encoded as always, so the table compares directly with an fp32 run's.

The model is loaded once and every run asks both languages' questions against one index:

- full: every article indexed. Gives the retrieval and answer rows, and "in-document answered wrongly" (measured
  against the whole corpus, as a user's index would be).
- holdout: a seeded FRACTION of the articles left out of the same index folder (so nothing is re-embedded); only
  their questions are asked, now out of the documents. Gives "out-of-document abstained".
- seed gold: tests/data/seed_gold.jsonl against a temporary index of seeds/, as a sanity check (--no-seed-gold
  skips it).

Each run writes the usual `qa eval` outputs to OUT/<run>/; OUT/table.md holds the table, OUT/summary.json its
values with every run's metrics, and OUT/risk_coverage.png the curve of the full run's in-document questions
together with the holdout run's out-of-document ones.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from qa.embedding.embeddings import Embedder, query_encoder
from qa.evaluation import EvalRun, RowWriter, evaluate, hold_out, load_dataset, with_questions_of
from qa.evaluation.coverage import risk_coverage_by_scope
from qa.evaluation.datasets import Dataset
from qa.evaluation.plots import RISK_COVERAGE_PNG, plot_risk_coverage
from qa.evaluation.records import LanguageMetrics, QuestionResult
from qa.evaluation.report import write_outputs
from qa.indexing.index import build_index
from qa.retrieval.retriever import Retriever
from benchkit.timing import markdown_table, write_report  # scripts/benchkit, beside this file

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT.parent / "shared" / "benchmarks" / "xquad-dev"
LANGUAGES = ("vi", "en")
FULL, HOLDOUT = "full", "holdout"
# (label, LanguageMetrics field, run): the table's rows, in order.
ROWS = (("top-1 (hit@1)", "hit_1", FULL), ("hit@{k}", "hit_k", FULL), ("MRR", "mrr", FULL),
        ("answer holds gold", "answer_correct", FULL), ("short answer holds gold", "short_holds_gold", FULL),
        ("short F1", "short_f1", FULL), ("mean answer words", "answer_words", FULL),
        ("in-document answered wrongly", "wrong_rate", FULL),
        ("out-of-document abstained", "abstain_recall", HOLDOUT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", type=Path, default=DEV / "xquad-dev.vi.json",
                        help="SQuAD-format file: contexts, gold answers and its own questions")
    parser.add_argument("--questions", type=Path, default=DEV / "xquad-dev.en.json",
                        help="the same questions in the other language (same ids)")
    parser.add_argument("--holdout", type=float, default=0.5, help="fraction of the articles left out")
    parser.add_argument("--holdout-seed", type=int, default=0)
    parser.add_argument("-k", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("eval-out") / "bench-quality")
    parser.add_argument("--quantize", choices=("none", "int8"), default="none",
                        help="passage encoder the indexes are built with")
    parser.add_argument("--no-seed-gold", dest="seed_gold", action="store_false",
                        help="skip the seed gold set sanity check")
    args = parser.parse_args()

    started = time.perf_counter()
    full_set = with_questions_of(load_dataset(args.dataset), load_dataset(args.questions))
    held = hold_out(full_set, args.holdout, args.holdout_seed)
    held_set = dataclasses.replace(held, questions=tuple(q for q in held.questions if q.out_of_document))
    embedder = Embedder.load(quantize=args.quantize, log=log)
    with tempfile.TemporaryDirectory(prefix="bench-quality-") as scratch:
        runs = full_and_holdout(full_set, held_set, args, embedder, Path(scratch))
        if args.seed_gold:
            log("seed gold: indexing seeds/ into a temporary index…")
            build_index(ROOT / "seeds", Path(scratch) / "seed-index", embedder=embedder)
            retriever = Retriever.load(Path(scratch) / "seed-index", embedder=query_encoder(embedder))
            gold = load_dataset(ROOT / "tests" / "data" / "seed_gold.jsonl")
            runs["seed_gold"] = run("seed_gold", gold, args, progress("seed gold"), retriever=retriever)
    total = time.perf_counter() - started

    table = quality_table(runs, args.k)
    notes = run_notes(runs, held, total)
    in_and_out = runs[FULL].rows + runs[HOLDOUT].rows
    operating = runs[FULL].operating_threshold  # both runs use the same default assistant
    summary = {"table": table_values(runs), "notes": notes, "wall_seconds": round(total, 1),
               "operating_threshold": operating,
               "risk_coverage": {s: c.to_dict() for s, c in risk_coverage_by_scope(in_and_out, operating).items()},
               "runs": {name: r.metrics.to_dict() for name, r in runs.items()}}
    write_report(args.out, summary, [*table, "", *notes], json_name="summary.json", table_name="table.md")
    plot_risk_coverage(args.out / RISK_COVERAGE_PNG, in_and_out, operating)
    print(f"\nwrote table.md, summary.json, {RISK_COVERAGE_PNG} and one folder a run to {args.out}", file=sys.stderr)


def full_and_holdout(full_set: Dataset, held_set: Dataset, args: argparse.Namespace, embedder: Embedder,
                     scratch: Path) -> dict[str, EvalRun]:
    """The full run, then the holdout run over the same index folder (it embeds nothing new)."""
    return {name: run(name, dataset, args, progress(name), workdir=scratch / "benchmark", embedder=embedder)
            for name, dataset in ((FULL, full_set), (HOLDOUT, held_set))}


def run(name: str, dataset: Dataset, args: argparse.Namespace, on_row: Callable[[QuestionResult], None],
        **where) -> EvalRun:
    """One evaluation with its usual outputs in OUT/<name>/; stops the script on Ctrl-C."""
    out_dir = args.out / name
    log(f"{name}: {len(dataset.questions)} questions…")
    with RowWriter(out_dir / "per_question.jsonl") as writer:
        def finished(row: QuestionResult) -> None:
            writer.write(row)
            on_row(row)

        result = evaluate(dataset, k=args.k, on_row=finished, log=log, **where)
    write_outputs(out_dir, result)
    if result.interrupted:
        sys.exit(f"Interrupted during the {name} run ({len(result.rows)} questions done); see {out_dir}.")
    log(f"{name}: done in {result.wall_seconds:.1f} s")
    return result


def progress(name: str, every: int = 200) -> Callable[[QuestionResult], None]:
    """A line on stderr every `every` questions: a run takes minutes."""
    done = 0

    def advance(row: QuestionResult) -> None:
        nonlocal done
        done += 1
        if done % every == 0:
            log(f"{name}: {done} questions answered")

    return advance


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cell(field: str, metrics: LanguageMetrics | None) -> str:
    value = None if metrics is None else getattr(metrics, field)
    if value is None:
        return "—"
    return f"{value:.1f}" if field == "answer_words" else f"{100 * value:.1f}%"


def table_values(runs: dict[str, EvalRun]) -> dict[str, dict[str, float | str | None]]:
    by_language = {name: runs[name].metrics.by_language for name in (FULL, HOLDOUT)}
    return {field: {**{lang: getattr(by_language[source].get(lang), field, None) for lang in LANGUAGES},
                    "from": source} for _, field, source in ROWS}


def quality_table(runs: dict[str, EvalRun], k: int) -> list[str]:
    by_language = {name: runs[name].metrics.by_language for name in (FULL, HOLDOUT)}
    return markdown_table(("metric", *LANGUAGES, "from"),
                          [(label.format(k=k), *(cell(field, by_language[source].get(lang)) for lang in LANGUAGES),
                            source) for label, field, source in ROWS], align="l" + "r" * len(LANGUAGES) + "l")


def run_notes(runs: dict[str, EvalRun], held: Dataset, total: float) -> list[str]:
    """Which run each row comes from, the wall times, and the seed gold sanity check."""
    full, holdout = runs[FULL], runs[HOLDOUT]
    articles = len(held.documents) + len(held.holdout.documents)
    notes = [f"full: all {articles} articles indexed, {per_language(full)} questions a language.",
             f"holdout: {len(held.holdout.documents)} of the {articles} articles left out of the index "
             f"(--holdout {held.holdout.fraction} --holdout-seed {held.holdout.seed}); only their "
             f"{per_language(holdout)} questions a language asked, as out-of-document questions."]
    times = [f"full {full.wall_seconds:.1f} s", f"holdout {holdout.wall_seconds:.1f} s"]
    if "seed_gold" in runs:
        gold = runs["seed_gold"]
        times.append(f"seed gold {gold.wall_seconds:.1f} s")
        metrics = gold.metrics.by_language
        checks = "; ".join(f"{lang} hit@1 {cell('hit_1', metrics.get(lang))}, answer holds gold "
                           f"{cell('answer_correct', metrics.get(lang))}, abstained "
                           f"{cell('abstain_recall', metrics.get(lang))}" for lang in LANGUAGES)
        notes.append(f"seed gold sanity check ({len(gold.rows)} questions): {checks}.")
    notes.append(f"eval wall time: {', '.join(times)} (both languages in each run, indexing included); "
                 f"{total:.0f} s in all, loading the model included.")
    return notes


def per_language(run: EvalRun) -> int:
    return len(run.rows) // max(1, len(run.metrics.by_language))


if __name__ == "__main__":
    main()
