"""The chat: a Gradio app over qa's public API, with cited answers, a sources panel and an HTTP API.

    build_app(assistant_or_loader, ...) -> gr.Blocks   the page and the named API endpoints /ask, /search, /feedback
    serve(app, host, port, ...)                        queue it and start the server (css, js, theme go here)
    launch(index_dir, seeds_dir, ...)                  both, loading the index and the model once per process

Everything taken from documents is escaped before it becomes markup (see `escape_text`): a document that holds
HTML or a <script> shows it as text. Handlers never let an exception reach the user: bad input, a missing or
rebuilding index and unexpected failures all become a short message in the asker's language, and the trace
goes to the server log.
"""

import dataclasses
import fcntl
import html
import json
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no telemetry calls from a local tool

import gradio as gr  # noqa: E402

import qa  # noqa: E402
from qa import Answer, Assistant  # noqa: E402
from qa.retrieval import MAX_K  # noqa: E402

log = logging.getLogger("hoidap.ui")

TITLE = "Hỏi đáp · Q&A"
DEFAULT_FEEDBACK_PATH = Path("data") / "feedback.jsonl"
DEFAULT_K = 5
MAX_K_IN_UI = 10
MAX_TURNS_SHOWN = 20  # turns kept in the sources panel
EXAMPLES = [
    "Hiệp định ngừng bắn được ký ở đâu?",
    "Aliev chính thức trở thành Tổng thống Azerbaijan vào thời điểm nào?",
    "In which city did the leaders meet to sign the ceasefire?",
    "How many soldiers did Azerbaijan lose in the two winter campaigns?",
]
VI, EN = "vi", "en"

# ------------------------------------------------------------------------------------------------------- words

TEXT = {
    "searching": {VI: "Đang tìm trong tài liệu…", EN: "Searching the documents…"},
    "empty": {VI: "Bạn chưa nhập câu hỏi. Hãy gõ một câu hỏi, ví dụ: “Lệnh ngưng bắn được ký ở đâu?”",
              EN: "Please type a question first, for example: “Where was the ceasefire signed?”"},
    "too_long": {VI: "Câu hỏi dài {n} ký tự, vượt giới hạn {limit} ký tự. Hãy rút gọn rồi hỏi lại.",
                 EN: "Your question is {n} characters long; the limit is {limit}. Please shorten it and ask again."},
    "no_index": {VI: "Chỉ mục tài liệu chưa sẵn sàng: nó chưa được tạo hoặc đang được xây dựng lại. Hãy chạy "
                     "“qa index” (hoặc đợi việc xây dựng xong) rồi hỏi lại sau ít phút.",
                 EN: "The document index is not ready: it has not been built yet or is being rebuilt. Run "
                     "“qa index” (or wait for the rebuild to finish) and ask again in a minute."},
    "broken": {VI: "Không dùng được chỉ mục tài liệu: {detail}", EN: "The document index cannot be used: {detail}"},
    "error": {VI: "Xin lỗi, đã có lỗi ngoài ý muốn khi trả lời (mã lỗi {id}). Hãy thử lại.",
              EN: "Sorry, something went wrong while answering (error {id}). Please try again."},
    "stale": {VI: "Tài liệu đã thay đổi từ lần tạo chỉ mục gần nhất; câu trả lời có thể chưa cập nhật "
                  "(chạy “qa index” để cập nhật).",
              EN: "The documents changed since the index was built; answers may be out of date "
                  "(run “qa index” to refresh it)."},
    "cited": {VI: "Nguồn được trích dẫn", EN: "Cited sources"},
    "nearest": {VI: "Không có câu trả lời trong tài liệu; các đoạn gần nhất:",
                EN: "No answer in the documents; the nearest passages:"},
    "others": {VI: "Các đoạn khác được tìm thấy", EN: "Other retrieved passages"},
    "score": {VI: "điểm", EN: "score"},
    "paragraph": {VI: "đoạn", EN: "¶"},
    "question": {VI: "Câu hỏi", EN: "Question"},
    "details": {VI: "Chi tiết truy xuất", EN: "Retrieval details"},
    "language": {VI: "Ngôn ngữ câu hỏi", EN: "Question language"},
    "query": {VI: "Câu dùng để tìm (kèm câu hỏi trước)", EN: "Searched with (joined to the earlier question)"},
    "confidence": {VI: "Độ tin cậy", EN: "Confidence"},
    "no_sources": {VI: "Nguồn của câu trả lời sẽ hiện ở đây.", EN: "The sources of each answer appear here."},
}
LANGUAGE_NAMES = {VI: {VI: "tiếng Việt", EN: "tiếng Anh"}, EN: {VI: "Vietnamese", EN: "English"}}


def say(key: str, language: str | None, **values: Any) -> str:
    """A message in `language`, or in both languages when it is unknown (an empty question)."""
    texts = TEXT[key]
    if language in texts:
        return texts[language].format(**values)
    return " · ".join(texts[lang].format(**values) for lang in (VI, EN))


# ------------------------------------------------------------------------------------------------ escaping

# Characters that mean something to HTML or to the chat's Markdown renderer, as numeric entities: the text
# then reads exactly as written. Line-start list/quote/heading markers and "://" (autolinks) are handled below.
_ENTITIES = {ch: f"&#{ord(ch)};" for ch in "&<>\"'\\`*_[]()#|~$!{}"}
_ESCAPE_TABLE = str.maketrans(_ENTITIES)
_LINE_START_MARK = re.compile(r"^(\s*)([-+>=]|\d+(?=[.)]))", re.MULTILINE)
_ESCAPED_MARKER = re.compile(r"&#91;(\d{1,3})&#93;")


def escape_html(text: str) -> str:
    return html.escape(text, quote=True)


def escape_text(text: str) -> str:
    """`text` as inert chat markup: no HTML, Markdown, LaTeX or autolink survives; it displays as typed."""
    escaped = text.translate(_ESCAPE_TABLE).replace("://", "&#58;//")
    return _LINE_START_MARK.sub(lambda m: m.group(1) + "".join(f"&#{ord(c)};" for c in m.group(2)), escaped)


def anchor_id(turn: int, marker: int) -> str:
    return f"qa-src-{turn}-{marker}"


def chat_markup(text: str, turn: int | None = None, markers: Sequence[int] = ()) -> str:
    """Escaped answer text whose citation markers [n] link to their passages in the sources panel."""
    escaped = escape_text(text)
    if turn is None or not markers:
        return escaped

    def link(match: re.Match) -> str:
        marker = int(match.group(1))
        if marker not in markers:
            return match.group(0)
        return (f'<a class="qa-marker" href="#{anchor_id(turn, marker)}" '
                f'data-qa-target="{anchor_id(turn, marker)}">[{marker}]</a>')

    return _ESCAPED_MARKER.sub(link, escaped)


# --------------------------------------------------------------------------------------------- the engine

class Engine:
    """The assistant, loaded once per process: handed in, or built by a loader on first use (or `preload`).

    With `index_dir` it also notices a rebuilt index (the manifest changed) and reloads it with the model it
    already has; while a rebuild is half-way the old index keeps answering.
    """

    RECHECK_SECONDS = 2.0

    def __init__(self, source: Assistant | qa.Retriever | Callable[[], Assistant], index_dir: Path | None = None):
        self._lock = threading.Lock()
        self._assistant: Assistant | None = None
        self._loader: Callable[[], Assistant] | None = None
        if isinstance(source, Assistant):
            self._assistant = source
        elif isinstance(source, qa.Retriever):
            self._assistant = Assistant(source)
        elif callable(source):
            self._loader = source
        else:
            raise TypeError("build_app needs an Assistant, a Retriever or a function that returns an Assistant")
        self.index_dir = Path(index_dir) if index_dir is not None else None
        self._stamp = self._manifest_stamp()
        self._checked = time.monotonic()
        self.last_error: Exception | None = None

    def get(self) -> Assistant:
        with self._lock:
            if self._assistant is None:
                try:
                    self._assistant = self._loader()
                except Exception as error:
                    self.last_error = error
                    raise
                self.last_error = None
                self._stamp = self._manifest_stamp()
            else:
                self._reload_if_rebuilt()
            return self._assistant

    @property
    def loaded(self) -> bool:
        return self._assistant is not None

    def preload(self) -> threading.Thread:
        """Load in the background so the first question does not wait for the model."""

        def run() -> None:
            try:
                self.get()
            except qa.QAError as error:
                log.warning("The index is not usable yet: %s", error)
            except Exception:
                log.exception("Loading the index and model failed")

        thread = threading.Thread(target=run, name="hoidap-preload", daemon=True)
        thread.start()
        return thread

    def _manifest_stamp(self) -> tuple[int, int] | None:
        if self.index_dir is None:
            return None
        try:
            stat = (self.index_dir / "manifest.json").stat()
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_ino

    def _reload_if_rebuilt(self) -> None:
        if self.index_dir is None or time.monotonic() - self._checked < self.RECHECK_SECONDS:
            return
        self._checked = time.monotonic()
        stamp = self._manifest_stamp()
        if stamp is None or stamp == self._stamp:
            return
        current = self._assistant
        try:
            retriever = qa.Retriever.load(self.index_dir, embedder=current.retriever.embedder)
        except qa.QAError as error:  # half-way through a rebuild, or built with another model
            log.warning("Keeping the loaded index; the new one is not usable yet: %s", error)
            return
        self._assistant = current.with_retriever(retriever)  # same settings and LLM backend
        self._stamp = stamp
        log.info("Reloaded the rebuilt index from %s", self.index_dir)


# ------------------------------------------------------------------------------------------------ feedback

class FeedbackLog:
    """Append-only JSONL: one row a vote. A process lock plus an advisory file lock, and each row is one
    write() on a file opened for appending, so concurrent votes never interleave."""

    def __init__(self, path: Path | str = DEFAULT_FEEDBACK_PATH):
        self.path = Path(path)
        self._lock = threading.Lock()

    def append(self, row: dict) -> dict:
        row = {"timestamp": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), **row}
        line = (json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8")
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                os.write(fd, line)
            finally:
                os.close(fd)  # closing releases the lock
        return row


def vote_of(liked: Any) -> str:
    """Gradio's like payload as "up", "down" or "withdrawn" (a second click on the same thumb sends "")."""
    if liked is None or liked == "":
        return "withdrawn"
    if liked is True or str(liked).lower() in ("like", "up", "true", "👍"):
        return "up"
    if liked is False or str(liked).lower() in ("dislike", "down", "false", "👎"):
        return "down"
    return str(liked)


# ------------------------------------------------------------------------------------------- sources panel

@dataclasses.dataclass
class SourceView:
    """One passage as the sources panel shows it (plain text; escaped only when rendered)."""

    rank: int
    passage_id: str
    document: str
    title: str
    section: str | None
    paragraph: int
    score: float
    scores: dict
    text: str
    marks: list[tuple[int, int, int | None]]  # (start, end, citation marker or None) into `text`
    extra_quotes: list[tuple[str, int | None]]  # cited sentences not found verbatim in `text`


def _sentence_span(text: str, sentence: str, after: int = 0) -> tuple[int, int] | None:
    position = text.find(sentence, after)
    if position < 0:
        position = text.find(sentence)
    return (position, position + len(sentence)) if position >= 0 else None


def source_views(answer: Answer) -> tuple[list[SourceView], list[SourceView]]:
    """(cited passages in marker order, the other top-k passages): each with its sentence(s) marked."""
    by_id = {hit.passage_id: hit for hit in answer.retrieved or answer.hits}
    cited: dict[str, SourceView] = {}
    for citation in answer.citations:
        hit = by_id.get(citation.passage_id)
        if hit is None:
            continue
        view = cited.get(citation.passage_id) or _view(hit, with_best_sentence=False)
        cited[citation.passage_id] = view
        sentence = next((s.text for s in hit.passage.sentences if s.start == citation.start), None)
        span = _sentence_span(view.text, sentence) if sentence else None
        if span:
            view.marks.append((*span, citation.marker))
        else:
            view.extra_quotes.append((citation.quote, citation.marker))
    shown = {hit.passage_id for hit in answer.hits} if answer.hits else set()
    others = [_view(hit, with_best_sentence=True) for hit in answer.retrieved or answer.hits
              if hit.passage_id not in cited and hit.passage_id in shown]
    for view in cited.values():
        view.marks.sort()
    return list(cited.values()), others


def _view(hit, with_best_sentence: bool) -> SourceView:
    c = hit.citation
    view = SourceView(hit.rank, hit.passage_id, c.document, c.title, c.section, c.paragraph, hit.score,
                      dataclasses.asdict(hit.scores), hit.text, [], [])
    sentences = hit.passage.sentences
    if with_best_sentence and 0 <= hit.best_sentence < len(sentences):
        span = _sentence_span(hit.text, sentences[hit.best_sentence].text)
        if span:
            view.marks.append((*span, None))
    return view


def _marked_text(view: SourceView, turn: int) -> str:
    parts, position = [], 0
    for start, end, marker in view.marks:
        if start < position:
            continue  # two markers on one sentence: the first one's mark covers it
        parts.append(escape_html(view.text[position:start]))
        ident = f' id="{anchor_id(turn, marker)}"' if marker is not None else ""
        badge = f'<sup class="qa-badge">[{marker}]</sup>' if marker is not None else ""
        parts.append(f"<mark{ident}>{escape_html(view.text[start:end])}</mark>{badge}")
        position = end
    parts.append(escape_html(view.text[position:]))
    for quote, marker in view.extra_quotes:
        ident = f' id="{anchor_id(turn, marker)}"' if marker is not None else ""
        parts.append(f' … <mark{ident}>{escape_html(quote)}</mark><sup class="qa-badge">[{marker}]</sup>')
    return "".join(parts)


def _card(view: SourceView, turn: int, language: str, show_details: bool) -> str:
    markers = [m for _, _, m in view.marks if m is not None] + [m for _, m in view.extra_quotes if m is not None]
    badge = "".join(f'<span class="qa-num">{m}</span>' for m in markers) or f'<span class="qa-rank">#{view.rank}</span>'
    where = [f"<strong>{escape_html(view.title)}</strong>"]
    if view.section:
        where.append(escape_html(view.section))
    where.append(f"{TEXT['paragraph'][language]} {view.paragraph}" if language == VI else f"¶{view.paragraph}")
    details = ""
    if show_details:
        s = view.scores
        details = (f'<div class="qa-scores">dense {s["dense"]:.3f} · sentence {s["sentence"]:.3f} · '
                   f'lexical {s["lexical"]:.3f} × {s["lexical_weight"]:.2f}</div>')
    first_id = f' id="{anchor_id(turn, markers[0])}-card"' if markers else ""
    return (f'<article class="qa-source"{first_id} data-passage="{escape_html(view.passage_id)}">'
            f'<header>{badge}<span class="qa-where">{" › ".join(where)}</span>'
            f'<span class="qa-score" title="{TEXT["score"][language]}">{TEXT["score"][language]} '
            f'{view.score:.3f}</span></header>'
            f'<p class="qa-passage">{_marked_text(view, turn)}</p>'
            f'<footer>{escape_html(view.document)}</footer>{details}</article>')


def render_turn(turn: dict, show_details: bool, open_: bool) -> str:
    language = turn["language"]
    number = turn["number"]
    head = (f'<summary><span class="qa-q">{TEXT["question"][language]} {number}</span> '
            f'{escape_html(_shorten(turn["question"], 140))}</summary>')
    body = []
    if show_details and turn.get("answer"):
        answer = turn["answer"]
        rows = [(TEXT["language"][language], LANGUAGE_NAMES[language].get(answer["language"], answer["language"])),
                (TEXT["confidence"][language], f'{answer["confidence"]:.2f}')]
        if turn.get("query") and turn["query"] != turn["question"]:
            rows.append((TEXT["query"][language], turn["query"]))
        body.append('<dl class="qa-details">' + "".join(
            f"<dt>{escape_html(k)}</dt><dd>{escape_html(v)}</dd>" for k, v in rows) + "</dl>")
    cited, others = turn.get("cited", []), turn.get("others", [])
    if cited:
        body.append(f'<h4>{TEXT["cited"][language]}</h4>')
        body.extend(_card(v, number, language, show_details) for v in cited)
        if others:
            body.append(f'<details class="qa-more"><summary>{TEXT["others"][language]} ({len(others)})</summary>'
                        + "".join(_card(v, number, language, show_details) for v in others) + "</details>")
    elif others:
        body.append(f'<h4>{TEXT["nearest"][language]}</h4>')
        body.extend(_card(v, number, language, show_details) for v in others)
    return (f'<details class="qa-turn" data-turn="{number}"{" open" if open_ else ""}>{head}'
            + "".join(body) + "</details>")


def render_sources(turns: Sequence[dict], show_details: bool) -> str:
    shown = [t for t in turns if t.get("cited") or t.get("others")][-MAX_TURNS_SHOWN:]
    if not shown:
        return f'<div class="qa-sources qa-empty">{say("no_sources", None)}</div>'
    newest = shown[-1]["number"]
    return ('<div class="qa-sources">'
            + "".join(render_turn(t, show_details, t["number"] == newest) for t in reversed(shown)) + "</div>")


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


# ------------------------------------------------------------------------------------------ error messages

def describe_error(error: Exception, question: str) -> str:
    """A short, friendly message for any failure; unexpected ones are logged with their trace and an id."""
    language = qa.detect_language(question) if isinstance(question, str) and question.strip() else None
    if isinstance(error, qa.InvalidQuestionError):
        if not isinstance(question, str) or not question.strip():
            return say("empty", None)
        return say("too_long", language or EN, n=len(question.strip()), limit=qa.MAX_QUESTION_CHARS)
    if isinstance(error, (qa.IndexNotFoundError, qa.SeedsNotFoundError)):
        return say("no_index", language or EN)
    if isinstance(error, (qa.IndexCorruptError, qa.IndexMismatchError, qa.ModelNotAvailableError)):
        return say("broken", language or EN, detail=str(error))
    if isinstance(error, qa.QAError):
        return str(error)
    ident = uuid.uuid4().hex[:8]
    log.error("Unexpected error %s for question %r", ident, question, exc_info=error)
    return say("error", language or EN, id=ident)


# ------------------------------------------------------------------------------------------------- the app

CSS = """
.qa-header { text-align: center; margin: 0.4rem 0 0.2rem; }
.qa-header h1 { font-size: 1.9rem; margin: 0; letter-spacing: 0.01em; }
.qa-header p { margin: 0.25rem 0 0; color: var(--body-text-color-subdued); }
#qa-banner { border-left: 4px solid #d97706; background: #fffbeb; color: #78350f; padding: 0.4rem 0.8rem;
             border-radius: 6px; }
#qa-banner p { margin: 0; }
.qa-sources { font-size: 0.92rem; line-height: 1.5; overflow-wrap: anywhere; }
.qa-sources.qa-empty { color: var(--body-text-color-subdued); padding: 1rem 0.2rem; }
.qa-turn { border: 1px solid var(--border-color-primary); border-radius: 10px; padding: 0.4rem 0.7rem;
           margin-bottom: 0.6rem; background: var(--block-background-fill); }
.qa-turn > summary { cursor: pointer; font-weight: 600; padding: 0.2rem 0; }
.qa-q { color: var(--color-accent); margin-right: 0.3rem; }
.qa-turn h4 { margin: 0.5rem 0 0.3rem; font-size: 0.85rem; text-transform: uppercase; letter-spacing: 0.04em;
              color: var(--body-text-color-subdued); }
.qa-source { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 0.5rem 0.65rem;
             margin: 0.45rem 0; background: var(--background-fill-primary); transition: box-shadow 0.3s; }
.qa-source header { display: flex; gap: 0.45rem; align-items: baseline; flex-wrap: wrap; }
.qa-where { flex: 1; min-width: 10rem; }
.qa-num, .qa-rank { display: inline-block; min-width: 1.5rem; text-align: center; border-radius: 999px;
                    font-size: 0.8rem; font-weight: 700; padding: 0 0.35rem; }
.qa-num { background: var(--color-accent); color: white; }
.qa-rank { background: var(--background-fill-secondary); color: var(--body-text-color-subdued); }
.qa-score { font-variant-numeric: tabular-nums; font-size: 0.8rem; color: var(--body-text-color-subdued); }
.qa-passage { margin: 0.35rem 0 0.2rem; white-space: pre-wrap; }
.qa-passage mark { background: #fde68a; color: inherit; padding: 0 0.1rem; border-radius: 3px; }
.qa-badge { color: var(--color-accent); font-weight: 700; margin-left: 0.1rem; }
.qa-source footer, .qa-scores { font-size: 0.78rem; color: var(--body-text-color-subdued); }
.qa-scores { font-family: var(--font-mono); }
.qa-details { display: grid; grid-template-columns: max-content 1fr; gap: 0.1rem 0.7rem; font-size: 0.82rem;
              margin: 0.3rem 0; }
.qa-details dt { color: var(--body-text-color-subdued); }
.qa-details dd { margin: 0; }
.qa-more > summary { cursor: pointer; color: var(--body-text-color-subdued); margin-top: 0.3rem; }
.qa-flash { box-shadow: 0 0 0 3px #f59e0b; }
mark.qa-flash { background: #fbbf24; }
a.qa-marker { text-decoration: none; font-weight: 700; cursor: pointer; }
"""

# Marker links: scroll the sources panel to the cited sentence (opening its turn) instead of following the link.
JS = """
() => {
  document.addEventListener("click", (event) => {
    const link = event.target.closest && event.target.closest("a.qa-marker, a[href^='#qa-src-']");
    if (!link) return;
    const id = link.getAttribute("data-qa-target") || (link.getAttribute("href") || "").slice(1);
    const target = document.getElementById(id);
    event.preventDefault();
    event.stopPropagation();
    if (!target) return;
    for (let node = target.parentElement; node; node = node.parentElement) {
      if (node.tagName === "DETAILS") node.open = true;
    }
    target.scrollIntoView({behavior: "smooth", block: "center"});
    const card = target.closest(".qa-source") || target;
    [target, card].forEach((el) => el.classList.add("qa-flash"));
    setTimeout(() => [target, card].forEach((el) => el.classList.remove("qa-flash")), 1600);
  }, true);
}
"""


def build_app(assistant_or_loader: Assistant | qa.Retriever | Callable[[], Assistant], *,
              index_dir: Path | str | None = None, seeds_dir: Path | str | None = None,
              feedback_path: Path | str = DEFAULT_FEEDBACK_PATH, stream_delay: float = 0.02,
              default_k: int = DEFAULT_K, examples: Sequence[str] = EXAMPLES, model: str | None = None) -> gr.Blocks:
    """The chat page plus the API endpoints /ask, /search and /feedback.

    `assistant_or_loader`: an Assistant (or Retriever) already loaded, or a function that loads one on first use.
    `index_dir` / `seeds_dir` let the page say when the index is missing or stale and pick up a rebuilt index.
    """
    engine = assistant_or_loader if isinstance(assistant_or_loader, Engine) else \
        Engine(assistant_or_loader, Path(index_dir) if index_dir is not None else None)
    feedback_log = FeedbackLog(feedback_path)
    index_dir = Path(index_dir) if index_dir is not None else None
    seeds_dir = Path(seeds_dir) if seeds_dir is not None else None

    # ------------------------------------------------------------------ handlers (each catches everything)

    def respond(question: str, history: list, turns: list, k: float, show_details: bool) -> Iterator[tuple]:
        """Stream the answer into the chat (progressively longer text) and show its sources beside it."""
        history, turns = list(history or []), list(turns or [])
        question = question if isinstance(question, str) else ""
        stripped = question.strip()
        language = qa.detect_language(stripped) if stripped else None
        number = (turns[-1]["number"] + 1) if turns else 1
        turn = {"number": number, "question": stripped, "language": language or EN,
                "message_index": None, "answer": None, "cited": [], "others": [], "error": None}
        if stripped:
            history.append({"role": "user", "content": escape_text(
                stripped if len(stripped) <= qa.MAX_QUESTION_CHARS else _shorten(stripped, 300))})
        history.append({"role": "assistant", "content": f"<em>{escape_html(say('searching', language))}</em>"})
        turn["message_index"] = len(history) - 1
        yield history, gr.skip(), turns, ""
        try:
            previous = [t["question"] for t in turns if t.get("answer")]
            # The text so far is shown as it arrives, unlinked; the newest delta is held back so that the whole
            # text first appears with its linked markers and its sources (the final answer is the verified one).
            shown, held, answer, pace = "", "", None, Pacer(stream_delay)
            for event in engine.get().stream(question, previous, k=whole_k(k)):
                if isinstance(event, Answer):
                    answer = event
                    break
                if held:
                    shown += held
                    history[-1] = {"role": "assistant", "content": escape_text(shown)}
                    pace.wait()
                    yield history, gr.skip(), gr.skip(), gr.skip()
                held = event
            if answer is None:
                raise RuntimeError("the answer stream ended without an answer")
            cited, others = source_views(answer)
            turn.update(answer=answer.to_dict(), query=answer.retrieval_query, cited=cited, others=others,
                        language=answer.language)
            turns = (turns + [turn])[-MAX_TURNS_SHOWN * 2:]
            markers = [c.marker for c in answer.citations]
            history[-1] = {"role": "assistant", "content": chat_markup(answer.answer, number, markers)}
            pace.wait()
            yield history, render_sources(turns, show_details), turns, gr.skip()
        except Exception as error:  # noqa: BLE001 — every failure becomes a message, never a trace
            message = describe_error(error, question)
            turn.update(error=message, answer=None, cited=[], others=[])
            history[-1] = {"role": "assistant", "content": escape_text(message)}
            turns = [t for t in turns if t is not turn] + [turn]
            yield history, render_sources(turns, show_details), turns, gr.skip()

    def on_like(turns: list, data: gr.LikeData) -> None:
        try:
            index = data.index if isinstance(data.index, int) else data.index[0]
            turn = next((t for t in turns or [] if t.get("message_index") == index), None)
            row = {"vote": vote_of(data.liked), "source": "chat"}
            if turn is None:
                row.update(question=None, answer=_plain(data.value), citations=[])
            else:
                answer = turn.get("answer") or {}
                row.update(question=turn["question"], language=turn["language"],
                           answer=answer.get("answer", turn.get("error")), answered=answer.get("answered", False),
                           confidence=answer.get("confidence"), backend=answer.get("backend"),
                           citations=answer.get("citations", []))
            feedback_log.append(row)
        except Exception:  # noqa: BLE001
            log.exception("Recording feedback failed")
            gr.Warning("Không lưu được phản hồi · Could not save the feedback")

    def clear() -> tuple:
        return [], render_sources([], False), [], ""

    def rerender(turns: list, show_details: bool) -> str:
        try:
            return render_sources(turns or [], show_details)
        except Exception:  # noqa: BLE001
            log.exception("Rendering the sources failed")
            return gr.skip()

    def banner() -> Any:
        try:
            note = index_note(engine, index_dir, seeds_dir, model)
        except Exception:  # noqa: BLE001
            log.exception("Checking the index failed")
            note = None
        return gr.update(value=note or "", visible=bool(note))

    # ------------------------------------------------------------------------------- API (named endpoints)

    def api_ask(question: str, k: int = DEFAULT_K) -> dict:
        """Answer a question from the documents, with citations: the same JSON object as `qa ask --json`."""
        try:
            return engine.get().ask(question, k=whole_k(k)).to_dict()
        except Exception as error:  # noqa: BLE001
            raise gr.Error(describe_error(error, question), print_exception=False) from None

    def api_search(question: str, k: int = DEFAULT_K) -> dict:
        """The k passages that best answer a question: the same JSON object as `qa search --json`."""
        try:
            return engine.get().retriever.retrieve(question, k=whole_k(k)).to_dict()
        except Exception as error:  # noqa: BLE001
            raise gr.Error(describe_error(error, question), print_exception=False) from None

    def api_feedback(question: str, answer: str, vote: str, citations: list | None = None) -> dict:
        """Record a vote ("up" or "down") on an answer in the feedback log; returns the row written."""
        try:
            vote = vote_of(vote.strip().lower() if isinstance(vote, str) else vote)
            if vote not in ("up", "down"):
                raise qa.InvalidArgumentError(f'vote must be "up" or "down", got {vote!r}.')
            if not isinstance(question, str) or not question.strip():
                raise qa.InvalidQuestionError("The question is empty.")
            return feedback_log.append({"vote": vote, "source": "api", "question": question.strip(),
                                        "answer": answer, "citations": list(citations or [])})
        except Exception as error:  # noqa: BLE001
            raise gr.Error(describe_error(error, question), print_exception=False) from None

    # ------------------------------------------------------------------------------------------ the page

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
        asking = [trigger(respond, chat_inputs, chat_outputs, api_visibility="private", concurrency_id="qa-engine",
                          show_progress="hidden") for trigger in (question_box.submit, send.click)]
        chatbot.like(on_like, [turns_state], None, api_visibility="private", queue=False)
        clear_button.click(clear, None, chat_outputs, api_visibility="private", queue=False, cancels=asking)
        chatbot.clear(lambda: clear()[1:], None, chat_outputs[1:], api_visibility="private", queue=False,
                      cancels=asking)
        details_box.change(rerender, [turns_state, details_box], [sources], api_visibility="private", queue=False)
        demo.load(banner, None, [status], api_visibility="private", queue=False)

        gr.api(api_ask, api_name="ask", concurrency_id="qa-engine")
        gr.api(api_search, api_name="search", concurrency_id="qa-engine")
        gr.api(api_feedback, api_name="feedback", concurrency_limit=None)

    demo.queue(default_concurrency_limit=2, max_size=64)
    demo.engine = engine  # for launch() and tests
    demo.feedback_log = feedback_log
    return demo


class Pacer:
    """Spaces the chat's updates at least `delay` seconds apart: an extractive answer, ready at once, then
    arrives word by word like a written one, while an LLM's slower deltas pass without waiting."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.next = 0.0

    def wait(self) -> None:
        if self.delay <= 0:
            return
        now = time.monotonic()
        if now < self.next:
            time.sleep(self.next - now)
        self.next = max(now, self.next) + self.delay


def _plain(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return " ".join(_plain(v) for v in value)
    if isinstance(value, dict):
        return str(value.get("text") or value.get("value") or "")
    return str(value)


def index_note(engine: Engine, index_dir: Path | None, seeds_dir: Path | None,
               model: str | None = None) -> str | None:
    """A banner for the page when the index is missing, being rebuilt or stale; None when all is well."""
    if index_dir is not None and seeds_dir is not None and seeds_dir.is_dir():
        state = qa.index_status(seeds_dir, index_dir, model)
        if state.state == "missing" and not engine.loaded:
            return say("no_index", None)
        if state.state == "stale":
            return say("stale", None)
        if state.state == "incompatible":
            return say("broken", None, detail=state.reason)
    if engine.last_error is not None and not engine.loaded:
        return describe_error(engine.last_error, "")
    return None


# ----------------------------------------------------------------------------------------------- launching

def whole_k(value: Any) -> int:
    """k as given by a slider or an API caller (5, 5.0, "5") → 5; anything else is a clear error."""
    try:
        k = int(value)
        if isinstance(value, bool) or float(value) != k:
            raise ValueError
    except (TypeError, ValueError):
        raise qa.InvalidArgumentError(f"k must be a whole number from 1 to {MAX_K}, got {value!r}.") from None
    return k


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


def launch_options() -> dict:
    """Page-wide settings, which Gradio 6 takes in launch() rather than Blocks()."""
    return {"css": CSS, "js": JS, "theme": gr.themes.Soft(primary_hue="teal", secondary_hue="amber"),
            "footer_links": ["api"]}


def serve(demo: gr.Blocks, host: str = "127.0.0.1", port: int | None = 7860, share: bool = False,
          auth: str | tuple[str, str] | None = None, *, prevent_thread_lock: bool = False, quiet: bool = False,
          max_threads: int = 40) -> gr.Blocks:
    """Start the server (binds 127.0.0.1 unless told otherwise; never shares unless asked)."""
    credentials = parse_auth(auth)
    demo.launch(server_name=host, server_port=port, share=bool(share), auth=credentials,
                auth_message="Hỏi đáp · Q&A — đăng nhập · sign in" if credentials else None,
                prevent_thread_lock=prevent_thread_lock, quiet=quiet, show_error=False, max_threads=max_threads,
                inbrowser=False, ssr_mode=False, **launch_options())
    return demo


def launch(index_dir: Path | str = "index", seeds_dir: Path | str | None = "seeds", host: str = "127.0.0.1",
           port: int | None = 7860, share: bool = False, auth: str | tuple[str, str] | None = None, *,
           feedback_path: Path | str = DEFAULT_FEEDBACK_PATH, model: str | None = None, llm: Any = None,
           prevent_thread_lock: bool = False, quiet: bool = False, stream_delay: float = 0.02) -> gr.Blocks:
    """Serve the chat over `index_dir`. The index and model load once, in the background, while the server
    starts; a missing index is reported on the page (and retried on each question), not a crash.
    `llm` (a `qa.LLMSettings`, or None for the extractive answers) lets an OpenAI-compatible server write
    the answers, streamed into the chat as they are written."""
    index_dir = Path(index_dir)
    parse_auth(auth)  # fail before loading anything

    def load() -> Assistant:
        return Assistant(qa.Retriever.load(index_dir, model), llm=llm)

    demo = build_app(load, index_dir=index_dir, seeds_dir=seeds_dir, feedback_path=feedback_path,
                     stream_delay=stream_delay, model=model)
    demo.engine.preload()
    return serve(demo, host, port, share, auth, prevent_thread_lock=prevent_thread_lock, quiet=quiet)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    launch()
