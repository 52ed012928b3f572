"""`qa chat`: serve the Gradio chat and its HTTP API. `qa` finds this command through the "qa.commands" entry
point (pyproject.toml), so the core never imports `ui`."""

from __future__ import annotations

import warnings
from pathlib import Path

import click

from qa import Index, SkippedDocumentWarning
from qa.cli.options import (check_llm, common_options, llm_options, model_option, open_llm, reports_errors,
                            store_option)
from ui.feedback import DEFAULT_FEEDBACK_PATH


@click.command("chat")
@common_options
@store_option
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; 0.0.0.0 exposes the chat to your network.")
@click.option("--port", type=click.IntRange(1, 65535), default=7860, show_default=True, help="Port to listen on.")
@click.option("--share", is_flag=True, default=False,
              help="Also open a temporary public gradio.live link (off unless given; needs internet).")
@click.option("--auth", envvar="QA_AUTH", show_envvar=True, metavar="USER:PASS", default=None,
              help="Require this user name and password: a login page for the chat; API clients log in too.")
@click.option("--feedback", "feedback_path", type=click.Path(dir_okay=False, path_type=Path),
              default=DEFAULT_FEEDBACK_PATH, envvar="QA_FEEDBACK", show_envvar=True, show_default=True,
              help="JSONL file that thumbs up/down votes are appended to.")
@click.option("--mcp", is_flag=True, envvar="QA_MCP", show_envvar=True, default=False,
              help="Also serve ask and search as MCP tools at /gradio_api/mcp/ for agents (not with --auth).")
@click.option("--manage-documents", is_flag=True, envvar="QA_MANAGE_DOCUMENTS", show_envvar=True, default=False,
              help="Let the page upload and remove documents (re-indexed in the background); off: the page lists "
                   "them only. On an address other than 127.0.0.1 it needs --auth.")
@model_option
@llm_options
@reports_errors
def chat_command(seeds_dir: Path, index_dir: Index, host: str, port: int, share: bool, auth: str | None,
                 feedback_path: Path, mcp: bool, manage_documents: bool, model: str | None, llm_url: str | None,
                 llm_model: str | None, llm_key: str | None) -> None:
    """Open the chat in the browser: cited answers in Vietnamese or English, plus the /ask and /search API."""
    from qa import LLMFallbackWarning, index_status
    from ui.server import LOOPBACK, check_exposure, launch

    check_exposure(host, auth, mcp=mcp, manage_documents=manage_documents)  # a malformed --auth fails here too
    check_llm(llm_url, llm_model)
    llm = open_llm(llm_url, llm_model, llm_key)
    status = index_status(seeds_dir, index_dir, model) if Path(seeds_dir).is_dir() else None
    if status is not None and status.state == "missing":
        click.echo(f"Warning: no index in {index_dir} yet; the page will say so until you run: "
                   f"qa index --seeds {seeds_dir} {index_dir.cli_argument}", err=True)
    elif status is not None and status.state != "fresh":
        click.echo(f"Warning: the index is {status.state} ({status.reason}); run: qa index", err=True)
    if host not in LOOPBACK and not auth:
        click.echo(f"Warning: listening on {host} without --auth: anyone who can reach this port can use the chat.",
                   err=True)
    shown_host = "127.0.0.1" if host == "0.0.0.0" else f"[{host}]" if ":" in host else host
    click.echo(f"Hỏi đáp · Q&A on http://{shown_host}:{port} "
               f"(index {index_dir}; feedback to {feedback_path}). Ctrl+C stops it.", err=True)
    if mcp:
        click.echo(f"MCP tools (ask, search) on http://{shown_host}:{port}/gradio_api/mcp/", err=True)
    with warnings.catch_warnings():  # the web stack's resource and deprecation warnings are not the user's to fix
        warnings.simplefilter("ignore")
        warnings.filterwarnings("default", category=SkippedDocumentWarning)
        warnings.filterwarnings("default", category=LLMFallbackWarning)  # why an LLM answer was not used
        launch(index_dir, seeds_dir, host=host, port=port, share=share, auth=auth, feedback_path=feedback_path,
               model=model, llm=llm, mcp=mcp, manage_documents=manage_documents, quiet=True)

