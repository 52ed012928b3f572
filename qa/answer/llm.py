"""Optional generative backend: an LLM writes the answer from the top passages, and the engine verifies it.

Off unless a server is configured (`--llm URL` or `QA_LLM_URL`). The question and the numbered top passages go to
any OpenAI-compatible chat-completions endpoint (Ollama, vLLM, llama.cpp server, hosted APIs); the answer streams
back as server-sent events and is then checked: citation markers `[n]` that point at no passage are dropped, the
rest are renumbered 1..m in order of first use and become `AnswerCitation`s with the exact source quote. An
answer with no valid citation, and any failure (timeout, connection refused, HTTP error, malformed stream), falls
back to the extractive answer with an `LLMFallbackWarning`; the reason is kept in its `fallback_reason`.

Two clocks bound a call, so that a server cannot hold the caller (a chat's worker) for long: `LLMSettings.timeout`
for each silence (to connect, for the first byte, between chunks), and an overall deadline for the whole answer
(`ANSWER_DEADLINE_FACTOR` times the timeout unless given) against a server that trickles tokens just fast enough.

Standard library only (urllib, http.client, json): no new dependency.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import threading
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace

from qa.answer.base import AnswerEvent, Answerer, stream_words
from qa.answer.records import NOT_FOUND, Answer, AnswerCitation, LLMSettings
from qa.errors import InvalidArgumentError, QAError
from qa.language import ENGLISH, VIETNAMESE
from qa.records import Hit, SearchResult

_LANGUAGE_NAMES = {VIETNAMESE: "Vietnamese", ENGLISH: "English"}
_ERROR_DETAIL_CHARS = 200
ANSWER_DEADLINE_FACTOR = 4  # the whole answer may take this many times `LLMSettings.timeout` (2 min by default)


class LLMError(QAError):
    """The LLM server could not be reached, refused the request, or sent a stream that is not chat completions."""


class LLMFallbackWarning(UserWarning):
    """The LLM answer could not be used; the extractive answer is shown instead."""


# ------------------------------------------------------------------------------------------------------ client

class ChatClient:
    """Streams one chat completion from an OpenAI-compatible server, within `deadline` seconds overall."""

    def __init__(self, settings: LLMSettings, deadline: float | None = None) -> None:
        self.settings = settings
        self.deadline = settings.timeout * ANSWER_DEADLINE_FACTOR if deadline is None else deadline
        if not self.deadline > 0:
            raise InvalidArgumentError(f"The LLM deadline must be a positive number of seconds, got {deadline!r}.")

    def request_body(self, messages: Sequence[Mapping[str, str]]) -> dict:
        return {"model": self.settings.model, "messages": list(messages), "stream": True, "temperature": 0,
                "max_tokens": self.settings.max_tokens}

    def stream(self, messages: Sequence[Mapping[str, str]], stats: dict | None = None) -> Iterator[str]:
        """The answer's content deltas as they arrive. Raises `LLMError` on any failure: no connection, no reply
        within the timeout, an HTTP error, a stream that is not chat-completion chunks ending in [DONE], or an
        answer not complete within the deadline (counted from the request). Closing the generator half-way hangs
        up at once and stops its deadline timer. `stats`, when given, receives the server's token counts."""
        started = time.monotonic()
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream", "User-Agent": "hoidap"}
        if self.settings.api_key:
            headers["Authorization"] = f"Bearer {self.settings.api_key}"
        data = json.dumps(self.request_body(messages), ensure_ascii=False).encode("utf-8")
        request = urllib.request.Request(self.settings.endpoint, data=data, headers=headers, method="POST")
        try:
            response = urllib.request.urlopen(request, timeout=min(self.settings.timeout, self.deadline))
        except urllib.error.HTTPError as error:
            raise LLMError(f"HTTP {error.code} from {self.settings.endpoint}{_error_detail(error)}") from None
        except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as error:
            raise LLMError(f"cannot reach {self.settings.endpoint}: {_reason(error)}") from None
        with response, Deadline(response, started + self.deadline) as deadline:
            try:
                if response.headers.get_content_type() == "application/json":  # the server ignored "stream"
                    body = _json(response.read().decode("utf-8", "replace"))
                    _counts(body, stats)
                    deadline.check()
                    yield _message_content(body)
                else:
                    for delta in _sse_deltas(response, stats):
                        deadline.check()
                        yield delta
            except (LLMError, OSError, http.client.HTTPException) as error:
                if deadline.passed:  # the connection was cut, or the deltas came too late
                    raise LLMError(f"no complete answer from {self.settings.endpoint} within "
                                   f"{self.deadline:g} s") from None
                if isinstance(error, LLMError):
                    raise
                if isinstance(error, (socket.timeout, TimeoutError)):
                    raise LLMError(f"no data from {self.settings.endpoint} for {self.settings.timeout:g} s") from None
                raise LLMError(f"the stream from {self.settings.endpoint} broke off: {_reason(error)}") from None


class Deadline:
    """Hangs up a response's connection when `at` (a `time.monotonic()` time) passes, so that a read blocked on a
    slow server returns at once: the per-read timeout alone lets a server that sends a token now and then hold
    the caller indefinitely. A context manager: leaving it stops the timer thread (and waits for it)."""

    def __init__(self, response: http.client.HTTPResponse, at: float) -> None:
        self.at = at
        self.passed = False
        try:  # a duplicate of the socket's descriptor: shutting it down cuts the connection the response reads
            self._socket: socket.socket | None = socket.socket(fileno=os.dup(response.fileno()))
        except (OSError, ValueError, AttributeError):
            self._socket = None  # no socket to cut: the deadline is still checked between deltas
        self._timer = threading.Timer(max(0.0, at - time.monotonic()), self._cut)
        self._timer.name = "hoidap-llm-deadline"
        self._timer.daemon = True

    def __enter__(self) -> Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._timer.cancel()
        self._timer.join()
        if self._socket is not None:
            self._socket.close()

    def check(self) -> None:
        if self.passed or time.monotonic() >= self.at:
            self.passed = True
            raise LLMError("the deadline passed")

    def _cut(self) -> None:
        self.passed = True
        if self._socket is not None:
            try:
                self._socket.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by the server


def _sse_deltas(lines: Iterator[bytes], stats: dict | None = None) -> Iterator[str]:
    """`choices[0].delta.content` of each `data: {...}` line, up to `data: [DONE]`. Other SSE fields (event:, id:,
    retry:), comments and blank lines are skipped. A stream that ends with neither [DONE] nor a finish_reason was
    cut short and raises. Token counts a chunk carries go into `stats`."""
    finished = False
    for raw in lines:
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not line.startswith("data:"):
            continue
        payload = line[5:].strip()
        if payload == "[DONE]":
            return
        chunk = _json(payload)
        _counts(chunk, stats)
        choices = chunk.get("choices")
        if not isinstance(choices, list):
            raise LLMError(f"a stream chunk has no choices: {payload[:_ERROR_DETAIL_CHARS]}")
        if not choices:
            continue  # e.g. a final usage-only chunk
        choice = choices[0]
        delta = choice.get("delta") if isinstance(choice, dict) else None
        if not isinstance(delta, dict):
            raise LLMError(f"a stream chunk has no delta: {payload[:_ERROR_DETAIL_CHARS]}")
        content = delta.get("content")
        if content is not None and not isinstance(content, str):
            raise LLMError(f"a stream chunk's content is not text: {payload[:_ERROR_DETAIL_CHARS]}")
        if content:
            yield content
        finished = finished or bool(choice.get("finish_reason"))
    if not finished:
        raise LLMError("the stream ended before data: [DONE]")


def _counts(chunk: dict, stats: dict | None) -> None:
    """The token counts a reply reports: llama.cpp's "timings" (with its rates), else OpenAI's "usage"."""
    if stats is None:
        return
    timings, usage = chunk.get("timings"), chunk.get("usage")
    if isinstance(timings, dict):
        for key, name in (("prompt_n", "prompt_tokens"), ("prompt_per_second", "prompt_tokens_per_second"),
                          ("predicted_n", "generated_tokens"), ("predicted_per_second", "generated_tokens_per_second")):
            if isinstance(timings.get(key), (int, float)):
                stats[name] = round(float(timings[key]), 2) if "second" in name else int(timings[key])
    elif isinstance(usage, dict):
        for key, name in (("prompt_tokens", "prompt_tokens"), ("completion_tokens", "generated_tokens")):
            if isinstance(usage.get(key), int):
                stats.setdefault(name, usage[key])


def _json(payload: str) -> dict:
    try:
        value = json.loads(payload)
    except json.JSONDecodeError:
        raise LLMError(f"the server sent something that is not JSON: {payload[:_ERROR_DETAIL_CHARS]!r}") from None
    if not isinstance(value, dict):
        raise LLMError(f"the server sent JSON that is not an object: {payload[:_ERROR_DETAIL_CHARS]!r}")
    if "error" in value:
        raise LLMError(f"the server reported an error: {_error_message(value)}")
    return value


def _message_content(body: dict) -> str:
    try:
        content = body["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise LLMError("the reply has no choices[0].message.content") from None
    if not isinstance(content, str):
        raise LLMError("the reply's content is not text")
    return content


def _error_message(body: dict) -> str:
    error = body.get("error")
    message = error.get("message") if isinstance(error, dict) else error
    return str(message)[:_ERROR_DETAIL_CHARS]


def _error_detail(error: urllib.error.HTTPError) -> str:
    try:
        text = error.read(4096).decode("utf-8", "replace").strip()
    except Exception:  # noqa: BLE001 - the detail is a courtesy; the status code says enough
        return ""
    try:
        body = json.loads(text)
        text = _error_message(body) if isinstance(body, dict) and "error" in body else text
    except json.JSONDecodeError:
        pass
    return f": {text[:_ERROR_DETAIL_CHARS]}" if text else ""


def _reason(error: BaseException) -> str:
    if isinstance(error, urllib.error.URLError) and not isinstance(error.reason, str):
        error = error.reason
    if isinstance(error, (socket.timeout, TimeoutError)):
        return "timed out"
    return str(error) or type(error).__name__


# ------------------------------------------------------------------------------------------------------ prompt

def build_messages(question: str, language: str, hits: Sequence[Hit]) -> list[dict[str, str]]:
    """The chat messages: a system prompt (answer only from the passages, in the question's language, citing [n])
    and the numbered passages followed by the question. Pure."""
    answer_language = _LANGUAGE_NAMES.get(language, _LANGUAGE_NAMES[ENGLISH])
    not_found = NOT_FOUND.get(language, NOT_FOUND[ENGLISH])
    system = (
        "You answer questions about a user's documents using only the numbered passages you are given.\n"
        f"Write the answer in {answer_language}, the language of the question, even when the passages are in "
        "another language (the documents may be in Vietnamese or English).\n"
        "After every claim, cite the passage it comes from with its number in square brackets, like [1] or "
        "[1][3]; use only the numbers of the passages given. Be brief: one to three sentences.\n"
        f"If the passages do not answer the question, reply exactly: {not_found}"
    )
    numbered = "\n\n".join(f"[{n}] {_heading(hit)}: {hit.passage.text}" for n, hit in enumerate(hits, start=1))
    user = f"Passages:\n\n{numbered}\n\nQuestion: {question}"
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def _heading(hit: Hit) -> str:
    passage = hit.passage
    return f"{passage.title} — {passage.section}" if passage.section else passage.title


# ---------------------------------------------------------------------------------------------- verification

_MARK = r"\[\s*\d+(?:\s*[,;]\s*\d+)*\s*\]"  # "[2]", "[1, 3]"
_MARKER_RUN = re.compile(rf"([ \t]*)({_MARK}(?:[ \t]*{_MARK})*)")  # markers side by side: "[1][3]", "[1] [3]"
_MARKER = re.compile(r"\[(\d+)\]")


def verify(text: str, n_passages: int) -> tuple[str, list[int]]:
    """The answer with every marker that points at no passage (not 1..n_passages) dropped, and the valid marker
    numbers in order of first use. Markers side by side or grouped ("[1] [3]", "[1, 3]") become "[1][3]". Pure.

    >>> verify("Ở Moscow [2][9], năm 1994 [0] [2, 2].", 5)
    ('Ở Moscow [2], năm 1994 [2].', [2])
    """
    used: list[int] = []

    def rewrite(match: re.Match) -> str:
        numbers = [int(n) for n in re.findall(r"\d+", match.group(2))]
        valid = list(dict.fromkeys(n for n in numbers if 1 <= n <= n_passages))
        used.extend(n for n in valid if n not in used)
        return match.group(1) + "".join(f"[{n}]" for n in valid) if valid else ""

    return _MARKER_RUN.sub(rewrite, text).strip(), used


def renumber(text: str, order: Sequence[int]) -> str:
    """Markers rewritten so that order[i] becomes i + 1 ("[2] … [1]" with order [2, 1] → "[1] … [2]")."""
    new = {old: position for position, old in enumerate(order, start=1)}
    return _MARKER.sub(lambda m: f"[{new[int(m.group(1))]}]" if int(m.group(1)) in new else m.group(0), text)


# --------------------------------------------------------------------------------------------------- answerer

class LLMAnswerer(Answerer):
    """An LLM writes the answer from the same passages the extractive answerer reads; the extractive answerer
    decides first whether the documents answer at all, and is the fallback whenever the LLM's answer is unusable."""

    backend = "llm"

    def __init__(self, settings: LLMSettings, extractive: Answerer, client: ChatClient | None = None, *,
                 deadline: float | None = None):
        """`deadline`: seconds the whole LLM answer may take before the extractive answer is used instead (default
        `ANSWER_DEADLINE_FACTOR` × `settings.timeout`)."""
        self.settings = settings
        self.extractive = extractive
        self.client = client or ChatClient(settings, deadline)

    @property
    def passages(self) -> int:
        return self.extractive.passages

    def stream(self, result: SearchResult, k: int) -> Iterator[AnswerEvent]:
        """The LLM's raw deltas as they arrive (unverified: markers not yet checked or renumbered), then the
        verified `Answer` (`backend="llm"`), or the extractive answer with `fallback_reason` and an
        `LLMFallbackWarning` after a failure or an answer that cites none of its passages.

        When the extractive answer abstains the documents do not answer the question, so the LLM is not called at
        all: a generator given passages that do not hold the answer is the likeliest to invent one. The abstention
        is then streamed like any extractive answer.
        """
        fallback = self.extractive.answer(result, k)
        if not fallback.answered or not result.hits:
            yield from stream_words(fallback.answer)
            yield fallback
            return
        hits = result.hits[:self.settings.max_passages]
        parts: list[str] = []
        stats: dict = {}
        started = time.monotonic()
        try:
            for delta in self.client.stream(build_messages(result.query, result.language, hits), stats):
                if not parts:
                    stats["first_token_seconds"] = round(time.monotonic() - started, 3)
                parts.append(delta)
                yield delta
        except LLMError as error:
            yield self._fall_back(fallback, str(error), _generation(stats, started))
            return
        generation = _generation(stats, started)
        text, order = verify("".join(parts), len(hits))
        if not order:
            yield self._fall_back(fallback, "the answer cites none of the passages it was given", generation)
            return
        citations = [self._cite(marker, hits[old - 1], fallback) for marker, old in enumerate(order, start=1)]
        short = fallback.short_answer
        if short and short.casefold() not in text.casefold():
            short = None
        yield replace(fallback, answer=renumber(text, order), short_answer=short, citations=citations, backend="llm",
                      model=self.settings.model, generation=generation)

    def _fall_back(self, fallback: Answer, reason: str, generation: dict) -> Answer:
        warnings.warn(f"The LLM answer could not be used ({reason}); showing the extractive answer.",
                      LLMFallbackWarning, stacklevel=3)
        return replace(fallback, backend="extractive", fallback_reason=reason, model=self.settings.model,
                       generation=generation)

    def _cite(self, marker: int, hit: Hit, fallback: Answer) -> AnswerCitation:
        """The cited passage, quoting the sentence the extractive answer chose from it if it chose one (the one
        that answers), else the passage's best-matching sentence."""
        passage = hit.passage
        for citation in fallback.citations:
            if citation.passage_id == passage.id:
                return replace(citation, marker=marker)
        return AnswerCitation.of(marker, passage, passage.sentences[hit.best_sentence],
                                 self.extractive.store.documents[passage.document])


def _generation(stats: dict, started: float) -> dict:
    return {"seconds": round(time.monotonic() - started, 3), **stats}
