"""The optional LLM backend against a real HTTP server on 127.0.0.1 that speaks the OpenAI chat-completions
streaming protocol (chunked server-sent events), scripted per test; the search results and the extractive
fallback answers come from the real engine on the seed documents."""

from __future__ import annotations

import json
import socket
import threading
import time
import warnings
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from qa.answer import NOT_FOUND, Answer, ExtractiveAnswerer, LLMAnswerer, LLMSettings, final_answer
from qa.answer.llm import ChatClient, LLMError, LLMFallbackWarning, build_messages, renumber, verify
from qa.errors import InvalidArgumentError
from qa.records import Citation, Hit, Passage, Scores, Sentence

slow = pytest.mark.slow

QUESTION_VI = ("Sau lệnh ngưng bắn năm 1994, người Armenia ở Nagorno-Karabakh nắm giữ bao nhiêu phần trăm lãnh thổ "
               "Azerbaijan bên ngoài khu tự trị cũ?")
QUESTION_EN = ("After the 1994 ceasefire, what percentage of Azerbaijan's territory outside the former autonomous "
               "region was held by the Karabakh Armenians?")
QUESTION_UNANSWERED = "What is the capital of France?"


# ------------------------------------------------------------------------------------------- the scripted server

@dataclass
class Script:
    """What the server does with the next request."""

    chunks: list[str] = field(default_factory=list)  # content deltas, streamed as SSE then data: [DONE]
    status: int = 200
    delay: float = 0.0  # seconds to wait before answering at all
    stall_after: int | None = None  # go silent after this many content chunks
    pause: float = 0.0  # seconds between content chunks: a server that trickles tokens
    raw: bytes | None = None  # a body sent as is, instead of chunks
    content_type: str = "text/event-stream"


class FakeLLM:
    def __init__(self) -> None:
        self.script = Script()
        self.requests: list[dict] = []
        self.release = threading.Event()  # set at teardown so a sleeping handler ends at once
        self.hung_up = threading.Event()  # set when the client closed the connection before the stream ended
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                fake.requests.append({"path": self.path, "headers": dict(self.headers),
                                      "body": json.loads(body.decode("utf-8"))})
                script = fake.script
                if self.path != "/v1/chat/completions":
                    return self.reply(404, b'{"error": {"message": "no such route"}}', "application/json")
                if script.delay and fake.release.wait(script.delay):
                    return
                if script.status != 200:
                    return self.reply(script.status, b'{"error": {"message": "model crashed"}}', "application/json")
                if script.raw is not None:
                    return self.reply(200, script.raw, script.content_type)
                self.send_response(200)
                self.send_header("Content-Type", script.content_type)
                self.send_header("Transfer-Encoding", "chunked")
                self.send_header("Connection", "close")
                self.end_headers()
                self.send_chunk(sse({"choices": [{"index": 0, "delta": {"role": "assistant"}}]}))
                for n, text in enumerate(script.chunks):
                    if script.stall_after is not None and n == script.stall_after:
                        fake.release.wait(30)
                        return
                    if n and script.pause and fake.release.wait(script.pause):
                        return
                    try:
                        self.send_chunk(sse({"choices": [{"index": 0, "delta": {"content": text}}]}))
                    except (BrokenPipeError, ConnectionResetError):
                        fake.hung_up.set()
                        return
                self.send_chunk(sse({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
                self.send_chunk(b"data: [DONE]\n\n")
                self.wfile.write(b"0\r\n\r\n")

            def send_chunk(self, data: bytes) -> None:
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

            def reply(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def settings(self, **overrides) -> LLMSettings:
        return LLMSettings(**{"url": self.url, "model": "qwen-test", "timeout": 5.0, **overrides})

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def sse(payload: dict) -> bytes:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n".encode("utf-8")


@pytest.fixture
def llm():
    server = FakeLLM()
    yield server
    server.close()


# --------------------------------------------------------------------------------------------- the real engine

@dataclass(frozen=True)
class Case:
    result: object
    fallback: object
    extractive: ExtractiveAnswerer

    def document_text(self, document: str) -> str:
        return self.extractive.document_text(document)


@pytest.fixture(scope="module")
def extractive(retriever):
    return ExtractiveAnswerer(retriever.store)


def case_for(retriever, extractive, question: str) -> Case:
    result = retriever.retrieve(question, k=5)
    return Case(result, extractive.answer(result, 5), extractive)


@pytest.fixture(scope="module")
def vi(retriever, extractive) -> Case:
    case = case_for(retriever, extractive, QUESTION_VI)
    assert case.fallback.answered and case.fallback.short_answer == "9%" and len(case.result.hits) == 5
    return case


@pytest.fixture(scope="module")
def en(retriever, extractive) -> Case:
    case = case_for(retriever, extractive, QUESTION_EN)
    assert case.fallback.answered
    return case


def run(settings: LLMSettings, case: Case, deltas: list[str] | None = None) -> Answer:
    """The LLM answerer's final answer; its text deltas (everything before it) go to `deltas`."""
    events = list(LLMAnswerer(settings, case.extractive).stream(case.result, 5))
    assert all(isinstance(event, str) for event in events[:-1])
    if deltas is not None:
        deltas.extend(events[:-1])
    return final_answer(events)


def run_expecting_fallback(settings: LLMSettings, case: Case) -> Answer:
    with pytest.warns(LLMFallbackWarning) as caught:
        answer = run(settings, case)
    assert answer.backend == "extractive"
    assert (answer.answer, answer.citations, answer.answered) == (case.fallback.answer, case.fallback.citations, True)
    assert answer.fallback_reason and answer.fallback_reason in str(caught[0].message)
    assert answer.to_dict()["fallback_reason"] == answer.fallback_reason
    return answer


# --------------------------------------------------------------------------------------------------- pure parts

@pytest.mark.parametrize("text, n, expected", [
    ("Moscow [1].", 5, ("Moscow [1].", [1])),
    ("A [2] and B [1], again A [2].", 5, ("A [2] and B [1], again A [2].", [2, 1])),
    ("A [0] B [9] C [5].", 5, ("A B C [5].", [5])),
    ("Moscow [7] [1].", 5, ("Moscow [1].", [1])),
    ("Moscow [1, 3] and [ 2 ;9].", 5, ("Moscow [1][3] and [2].", [1, 3, 2])),
    ("Moscow [2][2] [2].", 5, ("Moscow [2].", [2])),
    ("[6] Moscow.", 5, ("Moscow.", [])),
    ("No citation at all.", 5, ("No citation at all.", [])),
    ("Năm 1994 [1]\n[8] Moscow [2]", 2, ("Năm 1994 [1]\n Moscow [2]", [1, 2])),
    ("Anything [1].", 0, ("Anything.", [])),
])
def test_verify_drops_markers_that_point_at_no_passage(text, n, expected):
    assert verify(text, n) == expected


def test_renumber_follows_the_order_of_first_use():
    assert renumber("B [3], A [1][3].", [3, 1]) == "B [1], A [2][1]."


def fake_hit(rank: int, title: str, section: str | None, text: str) -> Hit:
    passage = Passage(f"doc#{rank}", "doc.txt", title, section, rank, 0, len(text), text,
                      (Sentence(text, 0, len(text)),))
    return Hit(rank, 1.0, passage.id, text, Citation.of(passage), Scores(1, 1, 0, 0), 0, passage)


def test_build_messages_numbers_the_passages_and_asks_for_the_questions_language():
    hits = [fake_hit(1, "Chiến tranh", "Ngưng bắn", "Ký tại Moscow."), fake_hit(2, "War", None, "Signed in 1994.")]
    system, user = build_messages("Ký ở đâu?", "vi", hits)
    assert system["role"] == "system" and user["role"] == "user"
    assert "Vietnamese" in system["content"] and "[1]" in system["content"]
    assert NOT_FOUND["vi"] in system["content"]
    assert "[1] Chiến tranh — Ngưng bắn: Ký tại Moscow.\n\n[2] War: Signed in 1994." in user["content"]
    assert user["content"].rstrip().endswith("Ký ở đâu?")
    english = build_messages("Where?", "en", hits)[0]["content"]
    assert "in English" in english and NOT_FOUND["en"] in english
    assert build_messages("Ký ở đâu?", "vi", hits) == build_messages("Ký ở đâu?", "vi", hits)  # pure


@pytest.mark.parametrize("url, endpoint", [
    ("http://localhost:11434", "http://localhost:11434/v1/chat/completions"),
    ("http://localhost:11434/", "http://localhost:11434/v1/chat/completions"),
    ("http://localhost:8000/v1", "http://localhost:8000/v1/chat/completions"),
    ("http://localhost:8000/v1/", "http://localhost:8000/v1/chat/completions"),
    ("https://api.example.com/openai/v1", "https://api.example.com/openai/v1/chat/completions"),
    ("http://h:1/v1/chat/completions", "http://h:1/v1/chat/completions"),
    ("http://h:1/chat/completions/", "http://h:1/chat/completions"),
])
def test_endpoint_accepts_a_base_url_or_the_full_url(url, endpoint):
    assert LLMSettings(url).endpoint == endpoint


def test_settings_from_env(monkeypatch):
    for name in ("QA_LLM_URL", "QA_LLM_MODEL", "QA_LLM_API_KEY", "QA_LLM_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    assert LLMSettings.from_env() is None
    monkeypatch.setenv("QA_LLM_URL", "http://localhost:11434/v1")
    monkeypatch.setenv("QA_LLM_MODEL", "qwen2.5:7b")
    monkeypatch.setenv("QA_LLM_API_KEY", "sk-env")
    monkeypatch.setenv("QA_LLM_TIMEOUT", "12")
    assert LLMSettings.from_env() == LLMSettings("http://localhost:11434/v1", "qwen2.5:7b", "sk-env", 12.0)
    explicit = LLMSettings.from_env("http://other:8000", "llama", "sk-arg")
    assert (explicit.url, explicit.model, explicit.api_key) == ("http://other:8000", "llama", "sk-arg")
    assert LLMSettings.from_env(environ={}) is None
    assert LLMSettings.from_env(environ={"QA_LLM_URL": "http://h"}) == LLMSettings("http://h")


@pytest.mark.parametrize("kwargs", [{"url": "localhost:11434"}, {"url": "ftp://h/v1"}, {"url": "http://h", "timeout": 0},
                                    {"url": "http://h", "model": " "}, {"url": "http://h", "max_passages": 0}])
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(InvalidArgumentError):
        LLMSettings(**kwargs)


def test_client_streams_deltas_and_raises_a_typed_error(llm):
    llm.script = Script(chunks=["Xin ", "chào [1]"])
    messages = [{"role": "user", "content": "hi"}]
    assert list(ChatClient(llm.settings()).stream(messages)) == ["Xin ", "chào [1]"]
    llm.script = Script(status=500)
    with pytest.raises(LLMError, match="HTTP 500.*model crashed"):
        list(ChatClient(llm.settings()).stream(messages))


def read_until_error(client: ChatClient, messages: list[dict]) -> tuple[list[str], LLMError | None, float]:
    """The deltas a client streams, the error that ended them (if one did) and how long it all took."""
    started, deltas = time.monotonic(), []
    try:
        for delta in client.stream(messages):
            deltas.append(delta)
    except LLMError as error:
        return deltas, error, time.monotonic() - started
    return deltas, None, time.monotonic() - started


@pytest.mark.parametrize("pause", [0.1, 0.8], ids=["trickles", "waits-within-the-timeout"])
def test_a_server_that_trickles_tokens_is_cut_off_at_the_overall_deadline(llm, pause):
    llm.script = Script(chunks=["từng ", "chữ ", "một "] * 20, pause=pause)  # each gap well inside the timeout
    deltas, error, seconds = read_until_error(ChatClient(llm.settings(timeout=5.0), deadline=1.0),
                                              [{"role": "user", "content": "hi"}])
    assert error is not None and "no complete answer" in str(error) and "within 1 s" in str(error)
    assert 1 <= len(deltas) < 60
    assert 0.9 < seconds < 1.5  # cut at the deadline, even in the middle of a read, not at the next chunk


def test_the_deadline_defaults_to_a_multiple_of_the_timeout(llm):
    from qa.answer.llm import ANSWER_DEADLINE_FACTOR

    assert ChatClient(llm.settings(timeout=7.0)).deadline == 7.0 * ANSWER_DEADLINE_FACTOR
    with pytest.raises(InvalidArgumentError):
        ChatClient(llm.settings(), deadline=0)


def test_closing_a_stream_half_way_hangs_up_and_stops_its_deadline_timer(llm):
    llm.script = Script(chunks=["một "] * 200, pause=0.02)
    stream = ChatClient(llm.settings(), deadline=30.0).stream([{"role": "user", "content": "hi"}])
    assert next(stream) == "một "
    assert any(t.name == "hoidap-llm-deadline" for t in threading.enumerate())
    stream.close()  # what a chat does when its client goes away
    assert not any(t.name == "hoidap-llm-deadline" for t in threading.enumerate())
    assert llm.hung_up.wait(3)  # the server saw the connection closed: it stops writing the answer


# ------------------------------------------------------------------------------------ against the real engine

@slow
def test_a_good_answer_is_streamed_verified_and_cited(llm, vi):
    chunks = ["Người Armenia tại Nagorno-Karabakh ", "kiểm soát 9% lãnh thổ Azerbaijan ", "bên ngoài khu tự trị cũ [1]",
              ", theo đường biên sau lệnh ngưng bắn năm 1994 [2]."]
    llm.script = Script(chunks=chunks)
    seen: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("error", LLMFallbackWarning)
        answer = run(llm.settings(), vi, deltas=seen)
    assert seen == chunks
    assert answer.backend == "llm" and answer.answered and type(answer).__name__ == "Answer"
    assert answer.fallback_reason is None
    assert answer.answer == "".join(chunks)
    assert answer.short_answer == "9%" and answer.language == "vi" and answer.question == QUESTION_VI
    hits = vi.result.hits
    assert [c.marker for c in answer.citations] == [1, 2]
    assert [c.passage_id for c in answer.citations] == [hits[0].passage_id, hits[1].passage_id]
    for citation, hit in zip(answer.citations, hits):
        assert citation.quote == vi.document_text(citation.document)[citation.start:citation.end]
        assert hit.passage.start <= citation.start < citation.end <= hit.passage.end
        assert (citation.document, citation.title, citation.paragraph) == (hit.passage.document, hit.passage.title,
                                                                           hit.passage.paragraph)
    assert answer.citations[0].quote == vi.fallback.citations[0].quote  # the sentence that answers, "9%"
    best = hits[1].passage.sentences[hits[1].best_sentence]
    assert (answer.citations[1].start, answer.citations[1].end) == (best.start, best.end)
    assert json.loads(json.dumps(answer.to_dict(), ensure_ascii=False))["backend"] == "llm"


@slow
def test_invalid_markers_are_dropped_and_the_rest_renumbered(llm, vi):
    llm.script = Script(chunks=["Lệnh ngưng bắn năm 1994 [7] ", "giữ nguyên đường biên [2]; ",
                                "người Armenia kiểm soát 9% [1]."])
    answer = run(llm.settings(), vi)
    assert answer.backend == "llm"
    assert answer.answer == "Lệnh ngưng bắn năm 1994 giữ nguyên đường biên [1]; người Armenia kiểm soát 9% [2]."
    hits = vi.result.hits
    assert [(c.marker, c.passage_id) for c in answer.citations] == [(1, hits[1].passage_id), (2, hits[0].passage_id)]


@slow
def test_an_answer_in_english_without_the_short_answer_has_none(llm, en):
    llm.script = Script(chunks=["They held a large part of it [1]."])
    answer = run(llm.settings(), en)
    assert answer.backend == "llm" and answer.short_answer is None and answer.language == "en"


@slow
@pytest.mark.parametrize("chunks", [["Armenians held 9% [0][6]."], [NOT_FOUND["vi"]]])
def test_an_answer_with_no_valid_citation_falls_back(llm, vi, chunks):
    llm.script = Script(chunks=chunks)
    answer = run_expecting_fallback(llm.settings(), vi)
    assert "cites none" in answer.fallback_reason


@slow
def test_http_500_falls_back_with_a_warning(llm, vi):
    llm.script = Script(status=500)
    answer = run_expecting_fallback(llm.settings(), vi)
    assert "HTTP 500" in answer.fallback_reason and "model crashed" in answer.fallback_reason


@slow
def test_a_wrong_route_falls_back(llm, vi):
    answer = run_expecting_fallback(llm.settings(url=llm.url + "/nothing/here"), vi)
    assert "HTTP 404" in answer.fallback_reason


@slow
@pytest.mark.parametrize("script", [Script(delay=10), Script(chunks=["Người Armenia ", "kiểm soát 9% [1]"], stall_after=1)],
                         ids=["silent", "stalls-mid-stream"])
def test_a_server_slower_than_the_timeout_falls_back_within_the_timeout(llm, vi, script):
    llm.script = script
    started = time.monotonic()
    answer = run_expecting_fallback(llm.settings(timeout=0.5), vi)
    assert time.monotonic() - started < 2.5
    assert "timed out" in answer.fallback_reason or "no data" in answer.fallback_reason


@slow
def test_a_trickled_answer_past_the_deadline_falls_back_to_the_extractive_one(llm, vi):
    llm.script = Script(chunks=["Người Armenia ", "kiểm soát ", "9% ", "lãnh thổ [1]."] * 10, pause=0.2)
    started = time.monotonic()
    with pytest.warns(LLMFallbackWarning):
        answer = final_answer(LLMAnswerer(llm.settings(timeout=5.0), vi.extractive, deadline=1.0).stream(vi.result, 5))
    assert time.monotonic() - started < 2.0
    assert answer.backend == "extractive" and answer.answer == vi.fallback.answer
    assert "no complete answer" in answer.fallback_reason and "within 1 s" in answer.fallback_reason


@slow
def test_a_closed_engine_stream_hangs_up_on_the_llm_and_frees_its_slot(llm, retriever):
    """The whole chain a chat closes when its client goes away: engine → assistant → LLM answerer → HTTP."""
    from qa import Assistant, Engine

    llm.script = Script(chunks=["Người Armenia "] * 200, pause=0.05)
    engine = Engine(Assistant(retriever, llm=llm.settings()), max_concurrent=1)
    stream = engine.stream(QUESTION_VI)
    assert next(stream) == "Người Armenia " and engine.busy == 1
    stream.close()
    assert engine.busy == 0 and llm.hung_up.wait(3)
    assert not any(t.name == "hoidap-llm-deadline" for t in threading.enumerate())


@slow
@pytest.mark.parametrize("raw", [
    b"data: {not json\n\n",
    b'data: {"id": 1}\n\ndata: [DONE]\n\n',
    b'data: {"choices": [{"delta": "text"}]}\n\ndata: [DONE]\n\n',
    b'data: {"choices": [{"delta": {"content": "Moscow [1]"}}]}\n\n',  # cut short: no [DONE], no finish_reason
    b'data: {"error": {"message": "out of memory"}}\n\n',
    b"<html>502 Bad Gateway</html>",
], ids=["not-json", "no-choices", "delta-not-object", "truncated", "error-event", "html"])
def test_a_malformed_stream_falls_back(llm, vi, raw):
    llm.script = Script(raw=raw)
    run_expecting_fallback(llm.settings(), vi)


@slow
def test_a_server_that_is_not_there_falls_back(vi):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    answer = run_expecting_fallback(LLMSettings(f"http://127.0.0.1:{port}/v1", timeout=2), vi)
    assert "cannot reach" in answer.fallback_reason


@slow
def test_a_non_streamed_json_reply_is_accepted(llm, vi):
    body = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "Moscow [1]."}}]}
    llm.script = Script(raw=json.dumps(body).encode(), content_type="application/json")
    answer = run(llm.settings(), vi)
    assert answer.backend == "llm" and answer.answer == "Moscow [1]."


@slow
def test_the_request_holds_the_model_the_numbered_passages_stream_and_the_key(llm, vi):
    llm.script = Script(chunks=["9% [1]."])
    run(llm.settings(api_key="sk-secret", max_passages=3), vi)
    (request,) = llm.requests
    body, headers = request["body"], request["headers"]
    assert request["path"] == "/v1/chat/completions"
    assert body["model"] == "qwen-test" and body["stream"] is True
    assert headers["Authorization"] == "Bearer sk-secret"
    assert headers["Content-Type"] == "application/json"
    system, user = body["messages"]
    assert system["role"] == "system" and "Vietnamese" in system["content"]
    hits = vi.result.hits
    for n, hit in enumerate(hits[:3], start=1):
        heading = f"{hit.passage.title} — {hit.passage.section}" if hit.passage.section else hit.passage.title
        assert f"[{n}] {heading}: {hit.passage.text}" in user["content"]
    assert "[4]" not in user["content"] and QUESTION_VI in user["content"]


@slow
def test_no_key_sends_no_authorization_and_english_questions_ask_for_english(llm, en):
    llm.script = Script(chunks=["9% [1]."])
    run(llm.settings(), en)
    (request,) = llm.requests
    assert "Authorization" not in request["headers"]
    system = request["body"]["messages"][0]["content"]
    assert "in English" in system and "Vietnamese" in system  # answer in English, even from Vietnamese passages


@slow
@pytest.mark.parametrize("suffix", ["", "/", "/chat/completions"])
def test_base_and_full_urls_reach_the_same_endpoint(llm, vi, suffix):
    llm.script = Script(chunks=["9% [1]."])
    url = llm.url.removesuffix("/v1") if suffix == "" else llm.url + suffix
    assert run(llm.settings(url=url), vi).backend == "llm"
    assert llm.requests[0]["path"] == "/v1/chat/completions"


@slow
def test_when_the_documents_do_not_answer_the_llm_is_not_called(llm, retriever, extractive):
    case = case_for(retriever, extractive, QUESTION_UNANSWERED)
    assert not case.fallback.answered
    llm.script = Script(chunks=["Paris [1]."])
    deltas: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("error", LLMFallbackWarning)
        assert run(llm.settings(), case, deltas) == case.fallback
    assert llm.requests == [] and "".join(deltas) == case.fallback.answer  # streamed like an extractive answer


@slow
def test_the_assistant_streams_the_llm_answer_through_the_same_path(llm, retriever):
    from qa import Assistant

    llm.script = Script(chunks=["Người Armenia ", "kiểm soát 9% [1]."])
    assistant = Assistant(retriever, llm=llm.settings())
    events = list(assistant.stream(QUESTION_VI, k=5))
    assert events[:-1] == ["Người Armenia ", "kiểm soát 9% [1]."]
    answer = events[-1]
    assert answer.backend == "llm" and answer.retrieval_query == QUESTION_VI and len(answer.hits) == 5
    assert answer.citations[0].passage_id in {hit.passage_id for hit in answer.retrieved}


# ------------------------------------------------------------------------------------- evaluation through the LLM

def test_eval_measures_the_llm_path_and_follow_ups(llm, retriever, tmp_path):
    """qa eval answers through the same assistant as qa ask: with --llm the server writes the answers, and a row's
    "history" makes it a follow-up resolved against the earlier question before retrieval."""
    from qa.evaluation import evaluate, load_dataset

    gold = tmp_path / "gold.jsonl"
    rows = [{"id": "city", "question": "Lãnh đạo các bên gặp nhau ở thành phố nào để ký thỏa thuận ngừng bắn?",
             "answer": "Moscow"},
            {"id": "when", "question": "Và khi nào?", "answer": "15 tháng 5",
             "history": ["Lãnh đạo các bên gặp nhau ở thành phố nào để ký thỏa thuận ngừng bắn?"]}]
    gold.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    llm.script = Script(chunks=["Ở Moscow, ngày 15 tháng 5 ", "[1]."])
    run = evaluate(load_dataset(gold), retriever=retriever, llm=llm.settings())
    assert run.settings["backend"] == "llm" and run.settings["llm"]["model"] == "qwen-test"
    answered = [r for r in run.rows if r.answered]
    assert [r.id for r in answered][:1] == ["city"] and all(r.answer == "Ở Moscow, ngày 15 tháng 5 [1]." for r in answered)
    assert len(llm.requests) == len(answered)
    follow_up = next(r for r in run.rows if r.id == "when")
    assert follow_up.first_relevant_rank == 1  # retrieved with the earlier question, so the right passage leads
