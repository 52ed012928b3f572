"""The chat page: a Gradio app over `qa.Engine`, with cited answers, a sources panel and an HTTP API.

    build_app(source, ...) -> gr.Blocks   the page and the named API endpoints /ask, /search, /feedback
    ui.server.serve / ui.server.launch    start it (see there)

This module only lays out the page and wires its events to the handlers in `ui.chat`.
"""

from collections.abc import Callable, Sequence
from pathlib import Path

import gradio as gr

import qa
from ui.chat import DEFAULT_K, Chat
from ui.documents import DocumentsPanel, build_panel
from ui.feedback import DEFAULT_FEEDBACK_PATH, FeedbackLog
from ui.markup import escape_html, render_sources
from ui.strings import TITLE

MAX_K_IN_UI = 10
MAX_WAITING = 64  # requests queued beyond the ones running; more are turned away


def build_app(source: qa.Engine | qa.Assistant | qa.Retriever | Callable[[], qa.Assistant], *,
              index_dir: Path | str | None = None, seeds_dir: Path | str | None = None,
              feedback_path: Path | str = DEFAULT_FEEDBACK_PATH, stream_delay: float = 0.02,
              default_k: int = DEFAULT_K, examples: Sequence[str] | None = None, model: str | None = None,
              manage_documents: bool = False, writer: str | None = None) -> gr.Blocks:
    """The chat page plus the API endpoints /ask, /search and /feedback.

    `source`: an engine, or what to build one from (an assistant or retriever already loaded, or a function that
    loads one on first use) over `index_dir`. The engine's index folder and `seeds_dir` let the page say when
    the index is missing or stale; the engine picks up a rebuilt index. With both, the page lists the documents;
    with `manage_documents` too (off unless asked), it also uploads and removes them, re-indexing in the
    background. `examples`: None takes them from
    the indexed corpus (`qa.example_questions`). `writer`: the LLM that writes the answers, named on the page.
    """
    engine = source if isinstance(source, qa.Engine) else qa.Engine(source, index_dir=index_dir)
    if examples is None:
        examples = qa.example_questions(engine.index) if engine.index is not None else []
    chat = Chat(engine, FeedbackLog(feedback_path), seeds_dir=Path(seeds_dir) if seeds_dir is not None else None,
                model=model, stream_delay=stream_delay, writer=writer)

    with gr.Blocks(title=TITLE, fill_width=False) as demo:
        gr.HTML(f'<div class="qa-header"><h1>{escape_html(TITLE)}</h1>'
                '<p>Hỏi bằng tiếng Việt hoặc tiếng Anh — mỗi câu trả lời dẫn nguồn đến đoạn văn gốc.<br>'
                'Ask in Vietnamese or English — every answer cites the passages it comes from.</p></div>')
        status = gr.Markdown(visible=False, elem_id="qa-banner")
        turns_state = gr.State([])
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=360):
                chatbot = gr.Chatbot(
                    label="Trò chuyện · Chat", elem_id="qa-chat", height=520, layout="bubble",
                    latex_delimiters=[], sanitize_html=True, render_markdown=True, buttons=["copy"],
                    placeholder="**Hãy đặt câu hỏi về tài liệu · Ask a question about the documents**",
                    feedback_options=("Like", "Dislike"))
                with gr.Row(equal_height=True):
                    question_box = gr.Textbox(
                        placeholder="Nhập câu hỏi… · Type a question…", show_label=False, lines=1, max_lines=6,
                        scale=5, autofocus=True, elem_id="qa-question", submit_btn=False)
                    send = gr.Button("Hỏi · Ask", variant="primary", scale=1, min_width=90, elem_id="qa-send")
                    clear_button = gr.Button("Xoá · Clear", variant="secondary", scale=1, min_width=90,
                                             elem_id="qa-clear")
                if examples:
                    gr.Examples(examples=[[q] for q in examples], inputs=[question_box],
                                label="Ví dụ · Examples", api_visibility="private", elem_id="qa-examples")
                with gr.Accordion("Cài đặt · Settings", open=False, elem_id="qa-settings"):
                    k_slider = gr.Slider(1, MAX_K_IN_UI, value=default_k, step=1, elem_id="qa-k",
                                         label="Số đoạn văn · Passages (k)")
                    details_box = gr.Checkbox(
                        value=False, elem_id="qa-details",
                        label="Hiện chi tiết truy xuất · Show retrieval details (language, dense/sentence/lexical)")
            with gr.Column(scale=2, min_width=320):
                gr.Markdown("### Nguồn · Sources")
                sources = gr.HTML(render_sources([], False), elem_id="qa-sources-box", padding=False, max_height=700)

        chat_inputs = [question_box, chatbot, turns_state, k_slider, details_box]
        chat_outputs = [chatbot, sources, turns_state, question_box]
        asking = [trigger(chat.respond, chat_inputs, chat_outputs, api_visibility="private",
                          concurrency_id="qa-engine", show_progress="hidden")
                  for trigger in (question_box.submit, send.click)]
        chatbot.like(chat.on_like, [turns_state], None, api_visibility="private", queue=False)
        clear_button.click(chat.clear, None, chat_outputs, api_visibility="private", queue=False, cancels=asking)
        chatbot.clear(lambda: chat.clear()[1:], None, chat_outputs[1:], api_visibility="private", queue=False,
                      cancels=asking)
        details_box.change(chat.rerender, [turns_state, details_box], [sources], api_visibility="private",
                           queue=False)
        demo.load(chat.banner, None, [status], api_visibility="private", queue=False)
        if seeds_dir is not None and engine.index is not None:
            panel = DocumentsPanel(Path(seeds_dir), engine.index, qa.BackgroundIndexer(
                seeds_dir, engine.index, model, embedder=engine.loaded_embedder), manage=manage_documents)
            demo.load(panel.view, None, build_panel(panel), api_visibility="private",
                      queue=False)
            demo.documents_panel = panel  # for tests

        gr.api(chat.api_ask, api_name="ask", concurrency_id="qa-engine")
        gr.api(chat.api_search, api_name="search", concurrency_id="qa-engine")
        gr.api(chat.api_feedback, api_name="feedback", concurrency_limit=None)
        # The same as JSON text: the MCP tools `ask` and `search` (qa chat --mcp), callable over HTTP too.
        gr.api(chat.ask, api_name="ask_json", concurrency_id="qa-engine")
        gr.api(chat.search, api_name="search_json", concurrency_id="qa-engine")

    # The engine's requests ("qa-engine") run as many at once as it has slots; the rest wait in the queue.
    demo.queue(default_concurrency_limit=engine.max_concurrent, max_size=MAX_WAITING)
    demo.engine = engine  # for launch() and tests
    demo.feedback_log = chat.feedback_log
    return demo
