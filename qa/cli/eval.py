"""`qa eval`: run a benchmark, print the headline table, and write report.md, metrics.json, per_question.jsonl
and plots. Registered by qa.cli.app with `main.add_command(eval_command)`."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from qa.cli.options import (check_llm, common_options, fail, json_option, llm_options, model_option, open_llm,
                             open_retriever, reports_errors)

if TYPE_CHECKING:  # the engine is imported when the command runs, so `qa --help` stays fast
    from rich.console import Console

    from qa.evaluation.datasets import Dataset
    from qa.evaluation.records import EvalMetrics
    from qa.evaluation.runner import EvalRun
    from qa.store.base import Index

EXIT_INTERRUPTED = 130  # the shell's code for a run stopped with Ctrl-C (128 + SIGINT)


def default_out_dir(dataset: Path, questions: Path | None, holdout: float | None = None, seed: int = 0) -> Path:
    """eval-out/<dataset stem>/, with +<questions stem> for a cross-lingual run and -holdout<fraction>-seed<n>
    for a holdout run, so that no run overwrites another kind of run of the same dataset."""
    name = dataset.stem if questions is None else f"{dataset.stem}+{questions.stem}"
    if holdout is not None:
        name += f"-holdout{holdout:g}-seed{seed}"
    return Path("eval-out") / name


@click.command("eval")
@click.argument("dataset_path", metavar="DATASET", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--questions", "questions_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Take the question texts from this parallel file (same ids), e.g. English questions over "
                   "Vietnamese contexts and answers.")
@click.option("--k", "-k", "k", type=int, default=5, show_default=True,
              help="Passages counted for hit@k and given to the assistant.")
@click.option("--holdout", "holdout", type=float, default=None, metavar="FRACTION",
              help="SQuAD format only: leave this fraction of the articles (a seeded shuffle) out of the index; "
                   "their questions are still asked and must be answered \"not found\".")
@click.option("--holdout-seed", "holdout_seed", type=int, default=None, metavar="N",
              help="Seed of the --holdout shuffle [default: 0].")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Folder for report.md, metrics.json, per_question.jsonl and plots "
                   "[default: eval-out/<dataset stem>/].")
@click.option("--compare", "compare_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="A previous run's metrics.json: print the change of every metric.")
@common_options
@model_option
@llm_options
@json_option
@reports_errors
def eval_command(dataset_path: Path, questions_path: Path | None, k: int, holdout: float | None,
                 holdout_seed: int | None, out_dir: Path | None, compare_path: Path | None, seeds_dir: Path,
                 index_dir: Index, model: str | None, llm_url: str | None, llm_model: str | None,
                 llm_key: str | None, as_json: bool) -> None:
    """Evaluate retrieval and answers on DATASET: the project's gold JSONL (run against --index; --seeds only
    warns when that index is stale) or SQuAD-format JSON (its own contexts are indexed into a temporary index).
    With --llm the answers come from that server, as `qa ask --llm` gives them; a JSONL row's "history" (the
    earlier questions) makes it a follow-up. Ctrl-C stops early and keeps the finished rows (exit 130)."""
    from rich.console import Console

    from qa.evaluation.datasets import DatasetError, hold_out, load_dataset
    from qa.retrieval.retriever import validate_k

    errors = Console(stderr=True)
    validate_k(k)
    check_llm(llm_url, llm_model)
    if holdout_seed is not None and holdout is None:
        fail("--holdout-seed needs --holdout FRACTION", 2)
    seed = holdout_seed or 0
    try:
        dataset = load_dataset(dataset_path, questions_path)
        if holdout is not None:
            dataset = hold_out(dataset, holdout, seed)
        old = _load_compare(compare_path)
    except DatasetError as error:
        fail(str(error), 2)
    out_dir = out_dir or default_out_dir(dataset_path, questions_path, holdout, seed)
    llm = open_llm(llm_url, llm_model, llm_key)
    started = time.perf_counter()
    run = _run(dataset, k, seeds_dir, index_dir, model, llm, out_dir, errors)
    seconds = time.perf_counter() - started
    metrics = run.metrics
    from qa.evaluation.report import compare_table, metrics_table, write_outputs

    written = [*write_outputs(out_dir, run, (str(compare_path), old) if old is not None else None),
               out_dir / "per_question.jsonl"]

    stdout = Console(highlight=False)
    if as_json:
        click.echo(json.dumps(metrics.to_dict(), ensure_ascii=False))
    else:
        stdout.print(metrics_table(metrics, k, title=_title(run)))
    if old is not None:
        (errors if as_json else stdout).print(compare_table(old, metrics, k, old_label=str(compare_path)))
    click.echo(f"{len(run.rows)} of {len(dataset.questions)} question(s) in {seconds:.1f} s; wrote "
               + ", ".join(p.name for p in written) + f" to {out_dir}", err=True)
    if run.interrupted:
        click.echo(f"Interrupted: the metrics cover the {len(run.rows)} finished question(s) only.", err=True)
        sys.exit(EXIT_INTERRUPTED)


def _title(run: EvalRun) -> str:
    """The command line that produced the table, as far as it changes the numbers."""
    dataset = run.dataset
    title = f"qa eval {dataset.name}"
    if dataset.questions_path is not None:
        title += f" --questions {dataset.questions_path}"
    if dataset.holdout is not None:
        title += f" --holdout {dataset.holdout.fraction} --holdout-seed {dataset.holdout.seed}"
    if run.interrupted:
        title += f" (interrupted: {len(run.rows)} of {len(dataset.questions)} questions)"
    return title


def _load_compare(compare_path: Path | None) -> EvalMetrics | None:
    """Read --compare before the run: it may be the metrics.json this run is about to overwrite."""
    if compare_path is None:
        return None
    from qa.evaluation.report import load_metrics

    return load_metrics(compare_path)


def _run(dataset: Dataset, k: int, seeds_dir: Path, index_dir: Index, model: str | None, llm: LLMSettings | None,
         out_dir: Path, errors: Console) -> EvalRun:
    """The run with a progress bar on stderr; rows go to per_question.jsonl as they finish."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
        TimeRemainingColumn

    from qa.embedding.embeddings import Embedder
    from qa.evaluation.runner import RowWriter, evaluate

    retriever = embedder = None
    if dataset.needs_own_index:
        embedder = Embedder.load(model)
    else:
        retriever = open_retriever(Path(seeds_dir), index_dir, model)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("eta"), TimeRemainingColumn())
    with RowWriter(out_dir / "per_question.jsonl") as writer, \
            Progress(*columns, console=errors, transient=True) as progress:
        task = None

        def start(total: int) -> None:
            nonlocal task
            task = progress.add_task(f"eval {dataset.path.name}", total=total)

        def finished(row) -> None:
            writer.write(row)
            progress.advance(task)

        return evaluate(dataset, k=k, retriever=retriever, embedder=embedder, llm=llm, on_start=start,
                        on_row=finished,
                        log=lambda message: progress.console.print(message, markup=False, highlight=False))
