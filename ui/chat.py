"""The chat's handlers: what happens when someone asks, votes, clears the chat, or calls the HTTP API.

All of them go through one `qa.Engine` and catch everything: bad input, a missing or rebuilding index and
unexpected failures become a short message in the asker's language, and the trace goes to the server log.
"""

import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import gradio as gr

import qa
from ui.feedback import FeedbackLog, RateLimit, TooManyVotesError, api_vote_row, chat_vote_row
from ui.markup import MAX_TURNS_SHOWN, chat_markup, escape_html, escape_text, render_sources, shorten, source_views
from ui.strings import EN, describe_error, say

log = logging.getLogger("hoidap.ui")

DEFAULT_K = 5


def http_only(method: Callable) -> Callable:
    """Mark an API endpoint as not an MCP tool (gradio lists as tools only functions without another type)."""
    method._mcp_type = "http-only"
    return method


class Chat:
    """The handlers of one page, over one engine and one feedback log."""

    def __init__(self, engine: qa.Engine, feedback_log: FeedbackLog, *, seeds_dir: Path | None = None,
                 model: str | None = None, stream_delay: float = 0.02, writer: str | None = None) -> None:
        """`writer`: the LLM that writes the answers (`--llm`), named while the page waits for it; each answer
        then says which model wrote it, or why its answer was not used (`writer_note`)."""
        self.engine = engine
        self.writer = writer
        self.feedback_log = feedback_log
        self.votes = RateLimit()  # per client, for the chat's thumbs and /feedback together
        self.seeds_dir = seeds_dir
        self.model = model
        self.stream_delay = stream_delay

    # ------------------------------------------------------------------------------------------ the page

    def respond(self, question: str, history: list, turns: list, k: float, show_details: bool) -> Iterator[tuple]:
        """Stream the answer into the chat (progressively longer text) and show its sources beside it.

        Gradio closes this generator when the client goes away or stops the answer; the engine's stream is
        closed with it, which frees the engine's slot and stops the answerer (an LLM's connection)."""
        history, turns = list(history or []), list(turns or [])
        question = question if isinstance(question, str) else ""
        stripped = question.strip()
        language = qa.detect_language(stripped) if stripped else None
        number = (turns[-1]["number"] + 1) if turns else 1
        turn = {"number": number, "question": stripped, "language": language or EN,
                "message_index": None, "answer": None, "cited": [], "others": [], "error": None}
        if stripped:
            history.append({"role": "user", "content": escape_text(
                stripped if len(stripped) <= qa.MAX_QUESTION_CHARS else shorten(stripped, 300))})
        waiting = say("searching_llm", language, model=self.writer) if self.writer else say("searching", language)
        history.append({"role": "assistant", "content": f"<em>{escape_html(waiting)}</em>"})
        turn["message_index"] = len(history) - 1
        yield history, gr.skip(), turns, ""
        try:
            previous = [t["question"] for t in turns if t.get("answer")]
            # The text so far is shown as it arrives, unlinked; the newest delta is held back so that the whole
            # text first appears with its linked markers and its sources (the final answer is the verified one).
            shown, held, answer, pace = "", "", None, Pacer(self.stream_delay)
            with closing(self.engine.stream(question, previous, k=whole_k(k))) as events:
                for event in events:
                    if isinstance(event, qa.Answer):
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
            history[-1] = {"role": "assistant",
                           "content": chat_markup(answer.answer, number, markers) + writer_note(answer)}
            pace.wait()
            yield history, render_sources(turns, show_details), turns, gr.skip()
        except Exception as error:  # noqa: BLE001 — every failure becomes a message, never a trace
            message = describe_error(error, question)
            turn.update(error=message, answer=None, cited=[], others=[])
            history[-1] = {"role": "assistant", "content": escape_text(message)}
            turns = [t for t in turns if t is not turn] + [turn]
            yield history, render_sources(turns, show_details), turns, gr.skip()

    def on_like(self, turns: list, data: gr.LikeData, request: gr.Request = None) -> None:
        try:
            self.votes.check(client_of(request))
            index = data.index if isinstance(data.index, int) else data.index[0]
            self.feedback_log.append(chat_vote_row(turns or [], index, data.liked, data.value))
        except TooManyVotesError as error:
            gr.Warning(f"Quá nhiều phản hồi · {error}")
        except Exception:  # noqa: BLE001
            log.exception("Recording feedback failed")
            gr.Warning("Không lưu được phản hồi · Could not save the feedback")

    def clear(self) -> tuple:
        return [], render_sources([], False), [], ""

    def rerender(self, turns: list, show_details: bool) -> Any:
        try:
            return render_sources(turns or [], show_details)
        except Exception:  # noqa: BLE001
            log.exception("Rendering the sources failed")
            return gr.skip()

    def banner(self) -> Any:
        try:
            note = index_note(self.engine, self.seeds_dir, self.model)
        except Exception:  # noqa: BLE001
            log.exception("Checking the index failed")
            note = None
        return gr.update(value=note or "", visible=bool(note))

    # ------------------------------------------------------------------------------- API (named endpoints)

    # The HTTP API endpoints (/ask, /search, /feedback) return JSON objects; gradio's MCP server would hand
    # those to agents as Python reprs, so they are not MCP tools. `ask` and `search` below are: the same calls
    # returning JSON text, with the docstrings (Args) that MCP clients show as the tools' documentation.

    @http_only
    def api_ask(self, question: str, k: int = DEFAULT_K) -> dict:
        """Answer a question from the documents, with citations: the same JSON object as `qa ask --json`."""
        with api_errors(question):
            return self.engine.ask(question, k=whole_k(k)).to_dict()

    @http_only
    def api_search(self, question: str, k: int = DEFAULT_K) -> dict:
        """The k passages that best answer a question: the same JSON object as `qa search --json`."""
        with api_errors(question):
            return self.engine.search(question, k=whole_k(k)).to_dict()

    @http_only
    def api_feedback(self, question: str, answer: str, vote: str, citations: list | None = None,
                     request: gr.Request = None) -> dict:
        """Record a vote ("up" or "down") on an answer in the feedback log; returns the row written."""
        with api_errors(question):
            self.votes.check(client_of(request))
            return self.feedback_log.append(api_vote_row(question, answer, vote, citations))

    def ask(self, question: str, k: int = DEFAULT_K) -> str:
        """Answer a question from the indexed documents, in the question's language (Vietnamese or English),
        quoting and citing the exact sentences it comes from; says so when the documents do not answer.

        Args:
            question: the question, in Vietnamese or English (at most 2000 characters)
            k: how many passages to retrieve and consider, a whole number from 1 to 50
        Returns:
            JSON text, the object of `qa ask --json`: answer, answered, short_answer, confidence, citations
            (document, title, section, page, paragraph, start, end, quote) and the retrieved hits
        """
        return json.dumps(self.api_ask(question, k), ensure_ascii=False)

    def search(self, question: str, k: int = DEFAULT_K) -> str:
        """Find the passages of the indexed documents that best answer a question (Vietnamese or English, also
        across the two languages), best first, each with its citation.

        Args:
            question: the question or search text, in Vietnamese or English (at most 2000 characters)
            k: how many passages to return, a whole number from 1 to 50
        Returns:
            JSON text, the object of `qa search --json`: query, language, index_version and hits (rank, score,
            passage_id, text, citation: document, title, section, page, paragraph, start, end)
        """
        return json.dumps(self.api_search(question, k), ensure_ascii=False)


@contextmanager
def api_errors(question: Any) -> Iterator[None]:
    """Any failure of an API call as a `gr.Error` with the friendly message: the caller gets no trace."""
    try:
        yield
    except Exception as error:  # noqa: BLE001
        raise gr.Error(describe_error(error, question), print_exception=False) from None


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


def client_of(request: gr.Request | None) -> str:
    """Who a vote comes from, for its rate limit: the logged-in user, else the client's address."""
    if request is None:
        return "local"
    user = getattr(request, "username", None)
    client = getattr(request, "client", None)
    return f"user:{user}" if user else f"host:{getattr(client, 'host', None) or 'unknown'}"


def whole_k(value: Any) -> int:
    """k as given by a slider or an API caller (5, 5.0, "5") → 5; anything else is a clear error."""
    try:
        k = int(value)
        if isinstance(value, bool) or float(value) != k:
            raise ValueError
    except (TypeError, ValueError):
        raise qa.InvalidArgumentError(
            f"k must be a whole number from 1 to {qa.Engine.MAX_K}, got {value!r}.") from None
    return k


def index_note(engine: qa.Engine, seeds_dir: Path | None, model: str | None = None) -> str | None:
    """A banner for the page when the index is missing, being rebuilt or stale; None when all is well."""
    if engine.index is not None and seeds_dir is not None and seeds_dir.is_dir():
        state = qa.index_status(seeds_dir, engine.index, model)
        if state.state == "missing" and not engine.loaded:
            return say("no_index", None)
        if state.state == "stale":
            return say("stale", None)
        if state.state == "incompatible":
            return say("broken", None, detail=state.reason)
    if engine.last_error is not None and not engine.loaded:
        return describe_error(engine.last_error, "")
    return None


def writer_note(answer: qa.Answer) -> str:
    """Under an answer an LLM was asked for: which model wrote it, or why its answer was not used."""
    if answer.model is None:
        return ""
    model = shown_model(answer.model)
    if answer.backend == "llm":
        note = say("written_by", answer.language, model=model)
    else:
        note = say("llm_unused", answer.language, model=model, reason=answer.fallback_reason or "?")
    return f"\n\n<small>{escape_html(note)}</small>"


def shown_model(name: str) -> str:
    """How the page names an LLM: its model name, or "LLM" for a server asked with no model name."""
    return "LLM" if name == qa.LLMSettings.model else name
