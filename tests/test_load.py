"""A small load test of the chat's HTTP API: `qa chat` as a real subprocess, concurrent gradio_client users,
every answer checked (exact citations, the expected fact, the same answer as the library gives).

Why: the chat queues requests and shares one model between them; answers must not fail, slow to a halt or change
under concurrency. `make bench-load` runs the same code with 50 users; this is its CI-sized run.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import qa

from conftest import ROOT, SEEDS

sys.path.insert(0, str(ROOT / "scripts"))
from benchkit import chat, checks, load  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(seed_index, tmp_path_factory) -> Iterator[str]:
    with chat.chat_server(seed_index, SEEDS, tmp_path_factory.mktemp("load") / "server.log") as url:
        yield url


@pytest.fixture(scope="module")
def texts() -> dict[str, str]:
    return {document.name: document.text for document in qa.read_documents(SEEDS)}


def test_ten_users_asking_two_questions_each_all_get_right_cited_answers(server, retriever, texts):
    schedule = load.plan(users=10, per_user=2)
    asks, wall = load.run_users(server, schedule)
    assistant = qa.Assistant(retriever)
    library, _ = load.run_library(lambda question, k: assistant.ask(question, k=k).to_dict(),
                                   [q for questions in schedule for q in questions])
    load.check(asks, texts, reference={ask.question.text: ask.answer for ask in library})
    assert len(asks) == 20 and {ask.user for ask in asks} == set(range(10))
    assert not load.failures(asks), load.failures(asks)
    assert len({ask.question.text for ask in asks}) == len(checks.QUESTIONS)  # every question was asked
    figures = load.latency(asks, wall)
    assert figures["asks"] == 20 and 0 < figures["p50_ms"] <= figures["p95_ms"] <= figures["max_ms"]
    assert figures["max_ms"] < 30_000, figures  # queued, not stuck


def raw_call(url: str, endpoint: str, data: list) -> tuple[str, Any]:
    """Call an endpoint over plain HTTP (as curl would) with any JSON, even what gradio_client cannot send
    (a lone surrogate is only expressible as the escape "\\ud800"); returns the final event ("complete" or
    "error") and its decoded data: the result, or the error message."""
    body = json.dumps({"data": data})  # ensure_ascii: lone surrogates travel as escapes
    started = httpx.post(f"{url}gradio_api/call/{endpoint}", content=body,
                         headers={"Content-Type": "application/json"}, timeout=30)
    started.raise_for_status()
    event_id = started.json()["event_id"]
    event, payload = "", ""
    with httpx.stream("GET", f"{url}gradio_api/call/{endpoint}/{event_id}", timeout=60) as stream:
        for line in stream.iter_lines():
            if line.startswith("event:"):
                event = line.removeprefix("event:").strip()
            elif line.startswith("data:"):
                payload = line.removeprefix("data:").strip()
                if event in ("complete", "error"):
                    break
    assert "Traceback" not in payload, payload
    decoded = json.loads(payload) if payload else None
    if event == "complete":
        return event, decoded[0]
    return event, decoded.get("error") if isinstance(decoded, dict) else decoded


@pytest.mark.parametrize("data, expected", [
    (["", 5], "type a question"),
    (["   \u200b\t", 5], None),
    (["x" * 2001, 5], "the limit is 2000"),
    (["Aliev là ai?", 0], "k must be a whole number from 1 to 50"),
    (["Aliev là ai?", 51], "k must be a whole number from 1 to 50"),
    (["Aliev là ai?", -3], "k must be a whole number from 1 to 50"),
    (["Aliev là ai?", "five"], None),
    (["Aliev là ai?", None], None),
    (["\x00\u202e<script>alert(1)</script>\u200d😀 Moscow", 5], None),
    ([None, 5], None),
    ([["Aliev"], 5], None),
])
def test_bad_input_over_http_is_refused_plainly_and_the_server_keeps_answering(server, texts, data, expected):
    for endpoint in ("ask", "search"):
        event, result = raw_call(server, endpoint, data)
        assert event in ("complete", "error"), (event, result)
        if event == "complete":
            assert expected is None, f"accepted {data!r}: {result}"
            problems = (checks.answer_problems(result, texts) if endpoint == "ask"
                        else checks.hit_problems(result["hits"], texts))
            assert not problems, problems
        else:
            assert isinstance(result, str) and result.strip(), result
            assert expected is None or expected in result, result
    event, result = raw_call(server, "ask", ["Ai được bầu làm Tổng thống năm 1993?", 1])
    assert event == "complete" and "Aliev" in result["answer"]


def test_a_lone_surrogate_over_http_gets_a_plain_refusal_not_an_unexpected_error(server):
    """Only raw JSON can carry one ("\\ud800"); it must not reach the model as the chat's "unexpected error"."""
    for endpoint in ("ask", "search"):
        event, result = raw_call(server, endpoint, ["Aliev \ud800 là ai?", 5])
        assert event == "error" and "error id" not in result and "mã lỗi" not in result, result
