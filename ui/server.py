"""Serving the chat: the server's safe defaults (localhost, no share link, optional basic auth) and the one call
that loads the index once per process and serves it."""

from pathlib import Path

import gradio as gr

import qa
from ui.app import build_app
from ui.chat import shown_model
from ui.assets import page_options
from ui.feedback import DEFAULT_FEEDBACK_PATH


def parse_auth(value: str | tuple[str, str] | None) -> tuple[str, str] | None:
    """"user:pass" (as given to --auth or QA_AUTH) → ("user", "pass"); None or "" → no login."""
    if value is None or value == "":
        return None
    if isinstance(value, tuple):
        user, password = value
    else:
        user, sep, password = str(value).partition(":")
        if not sep:
            raise qa.InvalidArgumentError('--auth / QA_AUTH must look like "user:password".')
    if not user or not password:
        raise qa.InvalidArgumentError('--auth / QA_AUTH needs both a user name and a password ("user:password").')
    return user, password


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def check_exposure(host: str, auth: str | tuple[str, str] | None, *, mcp: bool = False,
                   manage_documents: bool = False) -> None:
    """Refuse what would open the corpus or the tools to the wrong people, with what to do instead
    (`qa.InvalidArgumentError`): managing documents on an address other than loopback without a login, and MCP
    with a login (Gradio's MCP bridge neither asks for one nor passes one on, so its tools would be open)."""
    credentials = parse_auth(auth)
    if mcp and credentials:
        raise qa.InvalidArgumentError(
            "--mcp cannot be combined with --auth: Gradio's MCP endpoint does not check the login, so the tools "
            "would answer anyone. Serve MCP without --auth on 127.0.0.1 (or behind a proxy that checks logins), "
            "or leave out --mcp.")
    if manage_documents and host not in LOOPBACK and not credentials:
        raise qa.InvalidArgumentError(
            f"--manage-documents on {host} needs --auth USER:PASS: anyone who can reach the port could upload "
            "and delete documents. Add --auth, listen on 127.0.0.1, or leave out --manage-documents.")


def serve(demo: gr.Blocks, host: str = "127.0.0.1", port: int | None = 7860, share: bool = False,
          auth: str | tuple[str, str] | None = None, *, mcp: bool = False, prevent_thread_lock: bool = False,
          quiet: bool = False, max_threads: int = 40) -> gr.Blocks:
    """Start the server (binds 127.0.0.1 unless told otherwise; never shares unless asked). `mcp` also serves
    the API endpoints as MCP tools at /gradio_api/mcp/ (streamable HTTP; off unless asked)."""
    credentials = parse_auth(auth)
    check_exposure(host, credentials, mcp=mcp, manage_documents=bool(getattr(demo, "documents_panel", None)
                                                                     and demo.documents_panel.manage))
    demo.launch(server_name=host, server_port=port, share=bool(share), auth=credentials, mcp_server=bool(mcp),
                max_file_size=qa.MAX_DOCUMENT_BYTES,  # an upload over the documents' limit is refused as it arrives
                auth_message="Hỏi đáp · Q&A — đăng nhập · sign in" if credentials else None,
                prevent_thread_lock=prevent_thread_lock, quiet=quiet, show_error=False, max_threads=max_threads,
                inbrowser=False, ssr_mode=False, **page_options())
    return demo


def launch(index_dir: Path | str | qa.Index = "index", seeds_dir: Path | str | None = "seeds", host: str = "127.0.0.1",
           port: int | None = 7860, share: bool = False, auth: str | tuple[str, str] | None = None, *,
           feedback_path: Path | str = DEFAULT_FEEDBACK_PATH, model: str | None = None,
           llm: qa.LLMSettings | None = None, mcp: bool = False, manage_documents: bool = False,
           prevent_thread_lock: bool = False, quiet: bool = False, stream_delay: float = 0.02) -> gr.Blocks:
    """Serve the chat over `index_dir`. The index and model load once, in the background, while the server
    starts; a missing index is reported on the page (and retried on each question), not a crash.
    `llm` (a `qa.LLMSettings`, or None for the extractive answers) lets an OpenAI-compatible server write
    the answers, streamed into the chat as they are written. `manage_documents`: the page can upload and remove
    documents (see `check_exposure` for when that is allowed)."""
    check_exposure(host, auth, mcp=mcp, manage_documents=manage_documents)  # fail before loading anything
    engine = qa.Engine.open(index_dir, model, llm=llm)
    demo = build_app(engine, seeds_dir=seeds_dir, feedback_path=feedback_path, stream_delay=stream_delay,
                     model=model, manage_documents=manage_documents, writer=shown_model(llm.model) if llm else None)
    engine.preload()
    return serve(demo, host, port, share, auth, mcp=mcp, prevent_thread_lock=prevent_thread_lock, quiet=quiet)
