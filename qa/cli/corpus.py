"""`qa add`, `qa remove`, `qa list`: manage the documents of the seeds folder from the command line, then
re-index (only new or changed documents are embedded). Thin shells over `qa.documents.corpus`."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import click

from qa.cli.options import common_options, echo_build_report, json_option, model_option, reports_errors

if TYPE_CHECKING:
    from qa.store.base import Index


def _reindex(seeds_dir: Path, index_dir: Index, model: str | None, as_json: bool) -> None:
    from qa.indexing.index import build_index

    report = build_index(seeds_dir, index_dir, model, show_progress=not as_json,
                         log=lambda m: click.echo(m, err=True))
    echo_build_report(report, index_dir, as_json)


_no_index = click.option("--no-index", is_flag=True, help="Only change the seeds folder; run `qa index` later.")


@click.command("add")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@common_options
@model_option
@_no_index
@json_option
@reports_errors
def add_command(files: tuple[Path, ...], seeds_dir: Path, index_dir: Index, model: str | None, no_index: bool,
                as_json: bool) -> None:
    """Copy documents (.txt .md .pdf .docx .html) into the seeds folder, checked and safely named, then re-index.
    A document of the same name is replaced; if any file is refused, none is added."""
    from qa.documents.corpus import add_documents

    names = add_documents(seeds_dir, files)
    click.echo(f"Added {', '.join(names)} to {seeds_dir}.", err=True)
    if not no_index:
        _reindex(seeds_dir, index_dir, model, as_json)


@click.command("remove")
@click.argument("names", nargs=-1, required=True)
@common_options
@model_option
@_no_index
@json_option
@reports_errors
def remove_command(names: tuple[str, ...], seeds_dir: Path, index_dir: Index, model: str | None, no_index: bool,
                   as_json: bool) -> None:
    """Delete documents from the seeds folder by name (as `qa list` shows it), then re-index."""
    from qa.documents.corpus import remove_document

    for name in names:
        remove_document(seeds_dir, name)
        click.echo(f"Removed {name} from {seeds_dir}.", err=True)
    if not no_index:
        _reindex(seeds_dir, index_dir, model, as_json)


@click.command("list")
@common_options
@json_option
@reports_errors
def list_command(seeds_dir: Path, index_dir: Index, as_json: bool) -> None:
    """The documents of the seeds folder: type, size, title, pages, passages, and whether the index holds them."""
    from qa.documents.corpus import list_documents

    documents = list_documents(seeds_dir, index_dir)
    if as_json:
        click.echo(json.dumps([asdict(d) for d in documents], ensure_ascii=False))
        return
    if not documents:
        click.echo(f"No documents in {seeds_dir}.")
    for d in documents:
        state = f"{d.passages} passages" if d.indexed else "not indexed" if d.passages is None else "changed"
        pages = f", {d.pages} pages" if d.pages else ""
        click.echo(f"{d.name}  [{d.kind}, {d.bytes / 1024:.0f} KiB{pages}, {state}, {d.modified}]"
                   + (f"  {d.title}" if d.title else ""))
