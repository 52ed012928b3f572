"""`--llm local` beside the extractive answers, on 40 dev questions: what a small local LLM adds and what it costs.

    .venv/bin/python scripts/bench_llm.py [--questions 20] [--seed 0] [--llm-model PATH.gguf] [--out DIR]
    make bench-llm

A seeded sample of `--questions` question ids from the dev benchmark (../shared/benchmarks/xquad-dev), each asked
in Vietnamese and in English (over the Vietnamese articles), written as a gold JSONL; all 24 articles indexed once
with `qa index`; then `qa eval` twice over that index: extractive, and `--llm local` (llama.cpp started by qa,
the default model unless `--llm-model`). Reported per language and answerer: answer holds gold, in-document
answered wrongly, mean answer words, seconds per answer (median), and for the LLM how many answers it wrote, why
the rest fell back, and the server's prompt and generation tokens a second (medians). Writes OUT/report.json,
OUT/table.md and each run's `qa eval` outputs. A benchmark, not a test: it takes 10-30 minutes on two cores.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
from collections import Counter
from pathlib import Path

from benchkit.timing import markdown_table, timed, write_report

from qa.evaluation.datasets import load_dataset, write_documents

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT.parent / "shared" / "benchmarks" / "xquad-dev"
LANGUAGES = ("vi", "en")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=20, help="question ids sampled (each asked in vi and en)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--llm-model", default=None, help="a GGUF file instead of the default local model")
    parser.add_argument("--out", type=Path, default=ROOT / "eval-out" / "bench-llm")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    vi, en = load_dataset(DEV / "xquad-dev.vi.json"), load_dataset(DEV / "xquad-dev.en.json")
    chosen = random.Random(args.seed).sample(sorted(q.id for q in vi.questions), args.questions)
    gold = args.out / "questions.jsonl"
    source = {q.id: q for q in vi.questions}  # gold answers and documents: the Vietnamese articles'
    with open(gold, "w", encoding="utf-8") as out:
        for dataset in (vi, en):
            asked = {q.id: q for q in dataset.questions}
            for qid in chosen:
                out.write(json.dumps({"id": f"{qid}-{asked[qid].language}", "question": asked[qid].question,
                                      "answer": list(source[qid].answers), "language": asked[qid].language,
                                      "document": source[qid].document}, ensure_ascii=False) + "\n")
    seeds, index = args.out / "seeds", args.out / "index"
    if not seeds.exists():
        write_documents(vi, seeds)
    qa_command = [sys.executable, "-m", "qa"]
    subprocess.run([*qa_command, "index", "--seeds", str(seeds), "--index", str(index)], check=True)
    runs = {}
    local = ["--llm", "local", *(["--llm-model", args.llm_model] if args.llm_model else [])]
    for name, extra in (("extractive", []), ("llm-local", local)):
        _, seconds = timed(lambda: subprocess.run(
            [*qa_command, "eval", str(gold), "--seeds", str(seeds), "--index", str(index), "--out",
             str(args.out / name), *extra], check=True))
        rows = [json.loads(line) for line in open(args.out / name / "per_question.jsonl", encoding="utf-8")]
        runs[name] = {"wall_seconds": round(seconds, 1), "by_language": {
            language: summarize([r for r in rows if r["language"] == language]) for language in LANGUAGES}}
    report = {"questions": chosen, "seed": args.seed, "llm_model": args.llm_model or "default", "runs": runs}
    write_report(args.out, report, table(runs), table_name="table.md")


def summarize(rows: list[dict]) -> dict:
    """One answerer's figures on one language's rows (all in-document questions)."""
    generations = [r["llm"]["generation"] for r in rows if r.get("llm")]
    reasons = Counter(r["llm"]["fallback_reason"] for r in rows if r.get("llm") and r["llm"]["fallback_reason"])

    def median(values: list[float]) -> float | None:
        return round(statistics.median(values), 2) if values else None

    return {
        "n": len(rows),
        "answer_holds_gold": sum(bool(r["answer_correct"]) for r in rows) / len(rows),
        "answered_wrongly": sum(r["answered"] and not r["answer_correct"] for r in rows) / len(rows),
        "mean_answer_words": statistics.mean(len(r["answer"].split()) for r in rows if r["answered"])
        if any(r["answered"] for r in rows) else None,
        "seconds_per_answer": median([r["latency_ms"] / 1000 for r in rows]),
        "llm_called": len(generations),
        "llm_written": sum(bool(r.get("llm")) and r["llm"]["backend"] == "llm" for r in rows),
        "fallbacks": dict(reasons),
        "prompt_tokens_per_second": median([g["prompt_tokens_per_second"] for g in generations
                                            if "prompt_tokens_per_second" in g]),
        "generated_tokens_per_second": median([g["generated_tokens_per_second"] for g in generations
                                               if "generated_tokens_per_second" in g]),
        "prompt_tokens": median([g["prompt_tokens"] for g in generations if "prompt_tokens" in g]),
        "generated_tokens": median([g["generated_tokens"] for g in generations if "generated_tokens" in g]),
    }


def table(runs: dict) -> list[str]:
    header = ["metric", *(f"{name} {language}" for name in runs for language in LANGUAGES)]

    def cell(value, percent: bool = False) -> str:
        if value is None:
            return "–"
        return f"{100 * value:.1f}%" if percent else (f"{value:g}" if isinstance(value, (int, float)) else str(value))

    rows = []
    for label, key, percent in (("answer holds gold", "answer_holds_gold", True),
                                ("in-document answered wrongly", "answered_wrongly", True),
                                ("mean answer words", "mean_answer_words", False),
                                ("seconds per answer (median)", "seconds_per_answer", False),
                                ("LLM called / its answer used", None, False),
                                ("prompt tokens a second (median)", "prompt_tokens_per_second", False),
                                ("generated tokens a second (median)", "generated_tokens_per_second", False),
                                ("prompt / generated tokens (median)", None, False)):
        cells = []
        for name in runs:
            for language in LANGUAGES:
                figures = runs[name]["by_language"][language]
                if label.startswith("LLM called"):
                    called = figures["llm_called"]
                    cells.append(f"{called} / {figures['llm_written']}" if called else "–")
                elif label.startswith("prompt / generated"):
                    cells.append(f"{cell(figures['prompt_tokens'])} / {cell(figures['generated_tokens'])}"
                                 if figures["llm_called"] else "–")
                else:
                    value = figures[key]
                    cells.append(cell(round(value, 1) if isinstance(value, float) and not percent else value, percent))
        rows.append([label, *cells])
    notes = [f"{runs[name]['by_language'][language]['n']} questions a language; fallbacks "
             f"({name}, {language}): {runs[name]['by_language'][language]['fallbacks']}"
             for name in runs for language in LANGUAGES if runs[name]["by_language"][language]["fallbacks"]]
    return markdown_table(header, rows) + [""] + notes


if __name__ == "__main__":
    main()
