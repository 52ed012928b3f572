"""Options and error handling shared by every `qa` command (kept apart so command modules can import them)."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING

import click

from qa.errors import (DocumentRejectedError, IndexNotFoundError, InvalidArgumentError, InvalidQuestionError,
                       InvalidStoreURLError, QAError, SeedsNotFoundError, SeedUnreadableError)

if TYPE_CHECKING:
    from qa.answer.records import LLMSettings
    from qa.store.base import Index

USAGE_ERRORS = (InvalidQuestionError, InvalidArgumentError, SeedsNotFoundError, SeedUnreadableError,
                IndexNotFoundError, DocumentRejectedError, InvalidStoreURLError)


def fail(message: str, code: int) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


def reports_errors(command: Callable) -> Callable:
    """Turn the engine's typed errors into a one-line message on stderr and an exit code."""

    @wraps(command)
    def wrapper(*args, **kwargs):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("default")
                warnings.showwarning = _show_warning
                return command(*args, **kwargs)
        except USAGE_ERRORS as error:
            fail(str(error), 2)
        except QAError as error:
            fail(str(error), 1)
        except OSError as error:  # a file-system failure the engine did not anticipate: still a message, not a trace
            fail(f"{error.strerror or error}" + (f": {error.filename}" if error.filename else ""), 1)

    return wrapper


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    click.echo(f"Warning: {message}", err=True)


def common_options(command: Callable) -> Callable:
    """--index and --seeds. The command receives the index already parsed (`qa.store.location.parse_index`): a
    `qa.store.base.Index`, whose `str()` is the folder or URL as given."""

    @wraps(command)
    def with_index(*args, index_dir: Path, **kwargs):
        from qa.store.location import parse_index

        return command(*args, index_dir=parse_index(index_dir), **kwargs)

    wrapped = click.option("--index", "index_dir", type=click.Path(path_type=Path), default=Path("index"),
                           show_default=True, help="Folder of the built index.")(with_index)
    return click.option("--seeds", "seeds_dir", type=click.Path(path_type=Path), default=Path("seeds"),
                        show_default=True, help="Folder of input documents (.txt, .md, .pdf, .docx, .html).")(wrapped)


def store_option(command: Callable) -> Callable:
    """--store URL: the index in Qdrant instead of the --index folder (it wins over --index). The command still
    receives it as `index_dir`, parsed (`qa.store.location.parse_index`), after the URL's form is checked."""

    def check(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
        if value is not None:
            from qa.store.qdrant.connection import QdrantLocation

            try:
                QdrantLocation.parse(value)
            except InvalidStoreURLError as error:
                raise click.BadParameter(str(error)) from None
        return value

    @wraps(command)
    def with_store(*args, store: str | None = None, **kwargs):
        if store is not None:
            from qa.store.location import parse_index

            kwargs["index_dir"] = parse_index(store)
        return command(*args, **kwargs)

    return click.option("--store", metavar="URL", default=None, envvar="QA_STORE", show_envvar=True, callback=check,
                        help="Index in Qdrant instead of --index: qdrant://HOST[:PORT]/COLLECTION (a server; "
                             "qdrants:// for HTTPS, key in $QDRANT_API_KEY) or qdrant+path:FOLDER/COLLECTION "
                             "(local mode).")(with_store)


def _into_environment(name: str, check: Callable) -> Callable:
    """A click callback that hands an option to every model load of this command through its variable (the
    library reads $QA_DEVICE and $QA_BATCH_SIZE), after `check` accepts it."""

    def callback(ctx: click.Context, param: click.Parameter, value):
        if value is not None:
            import os

            try:
                check(value)
            except InvalidArgumentError as error:
                raise click.BadParameter(str(error)) from None
            os.environ[name] = str(value)
        return value

    return callback


def model_option(command: Callable) -> Callable:
    """--model, plus --device and --batch-size for where and how the model runs."""
    from qa.embedding.embeddings import BATCH_SIZE_ENV, DEVICE_ENV, resolve_batch_size, resolve_device

    command = click.option("--batch-size", type=int, default=None, expose_value=False,
                           callback=_into_environment(BATCH_SIZE_ENV, resolve_batch_size),
                           help="Texts embedded per batch [default: $QA_BATCH_SIZE, else 32].")(command)
    command = click.option("--device", default=None, expose_value=False, callback=_into_environment(DEVICE_ENV, resolve_device),
                           help="auto, cpu, cuda, cuda:N or mps [default: $QA_DEVICE, else auto: CUDA, then "
                                "MPS, then CPU].")(command)
    return click.option("--model", default=None, envvar="QA_MODEL", show_envvar=True,
                        help="Any sentence-transformers model: a local folder or a hub name, downloaded when the "
                             "hub is reachable and HF_HUB_OFFLINE is unset [default: "
                             "intfloat/multilingual-e5-small, prepared offline].")(command)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")


def echo_build_report(report, index_dir: Index, as_json: bool) -> None:
    """What `qa index` (and `qa add` / `qa remove`, which re-index) print about a build."""
    import json
    from dataclasses import asdict

    if as_json:
        click.echo(json.dumps(asdict(report), ensure_ascii=False))
    elif report.status == "up-to-date":
        click.echo(f"{index_dir} is up to date ({report.documents} document(s), {report.passages} passages, "
                   f"model {report.model}); nothing re-embedded.")
    else:
        click.echo(f"Built {index_dir} in {report.seconds:.1f} s: {report.documents} document(s), "
                   f"{report.passages} passages, {report.sentences} sentences with {report.model}"
                   + (f" ({report.embedded_texts} texts embedded, {report.reused_texts} reused)."
                      if report.reused_texts else "."))


def llm_options(command: Callable) -> Callable:
    """--llm, --llm-model, --llm-key: the optional OpenAI-compatible server that writes answers."""
    command = click.option("--llm-key", metavar="KEY", envvar="QA_LLM_API_KEY", show_envvar=True,
                           help="API key for --llm.")(command)
    command = click.option("--llm-model", metavar="NAME", envvar="QA_LLM_MODEL", show_envvar=True,
                           help="Model name for --llm URL; with --llm local, the path of a .gguf model file "
                                "[default: the bundled Qwen2.5-Coder-0.5B-Instruct].")(command)
    command = click.option("--llm", "llm_url", metavar="URL|local", envvar="QA_LLM_URL", show_envvar=True,
                           help="OpenAI-compatible server (Ollama, vLLM, llama.cpp) that writes the answer, or "
                                "'local' to start llama.cpp here (pip install -e '.[local-llm]'); citations are "
                                "verified, and any failure falls back to the extractive answer.")(command)
    return command


def check_llm(url: str | None, model: str | None) -> None:
    """What `--llm local` needs (a GGUF `--llm-model`, llama.cpp's server), checked before the index and the model
    load, so a mistake there fails at once."""
    from qa.answer.local_llm import LOCAL, check_local

    if url is not None and url.strip() == LOCAL:
        check_local(model)


def open_llm(url: str | None, model: str | None, key: str | None) -> LLMSettings | None:
    """The --llm settings: None (off), a server's URL, or `local`: llama.cpp's server started now and stopped
    when the command ends (`qa.answer.local_llm`)."""
    from qa.answer.local_llm import LOCAL, LocalLLM
    from qa.answer.records import LLMSettings

    if url is None or url.strip() != LOCAL:
        return LLMSettings.from_env(url, model, key)
    server = LocalLLM.start(model, log=lambda message: click.echo(message, err=True))
    click.get_current_context().call_on_close(server.stop)
    click.echo(f"llama.cpp is serving {server.model.name} at {server.url}.", err=True)
    return server.settings


def open_retriever(seeds_dir: Path, index_dir: Index, model: str | None):
    """The retriever over `index_dir` (with the model it was built with), warning, not failing, when the seeds
    changed since the build: a stale index still answers, but from the old seeds. The version is opened once:
    a missing index is a clear error before the model loads, and the staleness check reads the manifest it holds."""
    from qa.indexing.index import manifest_status
    from qa.retrieval.retriever import Retriever

    store = index_dir.open()
    if Path(seeds_dir).is_dir():
        try:
            status = manifest_status(store.manifest, seeds_dir, model or store.manifest.model)
        except BaseException:
            store.close()
            raise
        if status.state == "stale":
            click.echo(f"Warning: the index is stale ({status.reason}); run: qa index", err=True)
    return Retriever.over(index_dir, store, model)
