"""Serving the chat: the server's safe defaults (localhost, no share link, optional basic auth) and the one call
that loads the index once per process and serves it."""

from pathlib import Path

import gradio as gr

import qa
from ui.app import build_app
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


def serve(demo: gr.Blocks, host: str = "127.0.0.1", port: int | None = 7860, share: bool = False,
          auth: str | tuple[str, str] | None = None, *, mcp: bool = False, prevent_thread_lock: bool = False,
          quiet: bool = False, max_threads: int = 40) -> gr.Blocks:
    """Start the server (binds 127.0.0.1 unless told otherwise; never shares unless asked). `mcp` also serves
    the API endpoints as MCP tools at /gradio_api/mcp/ (streamable HTTP; off unless asked)."""
    credentials = parse_auth(auth)
    demo.launch(server_name=host, server_port=port, share=bool(share), auth=credentials, mcp_server=bool(mcp),
                max_file_size=qa.MAX_DOCUMENT_BYTES,  # an upload over the documents' limit is refused as it arrives
                auth_message="Hỏi đáp · Q&A — đăng nhập · sign in" if credentials else None,
                prevent_thread_lock=prevent_thread_lock, quiet=quiet, show_error=False, max_threads=max_threads,
                inbrowser=False, ssr_mode=False, **page_options())
    return demo


def launch(index_dir: Path | str = "index", seeds_dir: Path | str | None = "seeds", host: str = "127.0.0.1",
           port: int | None = 7860, share: bool = False, auth: str | tuple[str, str] | None = None, *,
           feedback_path: Path | str = DEFAULT_FEEDBACK_PATH, model: str | None = None,
           llm: qa.LLMSettings | None = None, mcp: bool = False, prevent_thread_lock: bool = False,
           quiet: bool = False, stream_delay: float = 0.02) -> gr.Blocks:
    """Serve the chat over `index_dir`. The index and model load once, in the background, while the server
    starts; a missing index is reported on the page (and retried on each question), not a crash.
    `llm` (a `qa.LLMSettings`, or None for the extractive answers) lets an OpenAI-compatible server write
    the answers, streamed into the chat as they are written."""
    parse_auth(auth)  # fail before loading anything
    engine = qa.Engine.open(index_dir, model, llm=llm)
    demo = build_app(engine, seeds_dir=seeds_dir, feedback_path=feedback_path, stream_delay=stream_delay,
                     model=model)
    engine.preload()
    return serve(demo, host, port, share, auth, mcp=mcp, prevent_thread_lock=prevent_thread_lock, quiet=quiet)
