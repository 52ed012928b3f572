"""The chat's HTTP API, called with gradio_client against a real server on a free port."""

import json
import socket

import httpx
import pytest

from conftest import SEEDS

pytestmark = pytest.mark.slow

SEED_TEXT = next(SEEDS.glob("*.txt")).read_text(encoding="utf-8")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(demo, **kwargs):
    from ui.server import serve

    serve(demo, "127.0.0.1", free_port(), prevent_thread_lock=True, quiet=True, **kwargs)
    return demo.local_url


@pytest.fixture(scope="module")
def assistant(retriever):
    from qa import Assistant

    return Assistant(retriever)


@pytest.fixture(scope="module")
def server(assistant, tmp_path_factory):
    from ui.app import build_app

    feedback = tmp_path_factory.mktemp("ui-data") / "data" / "feedback.jsonl"
    demo = build_app(assistant, feedback_path=feedback, stream_delay=0)
    url = start(demo)
    yield url, feedback
    demo.close()


@pytest.fixture(scope="module")
def client(server):
    from gradio_client import Client

    return Client(server[0], verbose=False)


def roundtrip(data: dict) -> dict:
    return json.loads(json.dumps(data, ensure_ascii=False))


def test_only_the_documented_endpoints_are_public(client):
    assert set(client.view_api(print_info=False, return_format="dict")["named_endpoints"]) == \
        {"/ask", "/search", "/feedback", "/ask_json", "/search_json"}


def test_the_json_text_endpoints_the_mcp_tools_use_return_the_same_objects(client):
    question = "Aliev chính thức trở thành Tổng thống Azerbaijan vào thời điểm nào?"
    assert json.loads(client.predict(question, 2, api_name="/ask_json")) == client.predict(question, 2, api_name="/ask")
    searched = json.loads(client.predict(question, 3, api_name="/search_json"))
    assert [h["passage_id"] for h in searched["hits"]] == \
        [h["passage_id"] for h in client.predict(question, 3, api_name="/search")["hits"]]


def test_ask_returns_the_qa_ask_json_with_citations_quoting_the_seed(client, assistant):
    question = "Aliev chính thức trở thành Tổng thống Azerbaijan vào thời điểm nào?"
    data = client.predict(question, api_name="/ask")
    assert data == roundtrip(assistant.ask(question, k=5).to_dict())  # the same object as `qa ask --json`
    assert data["answered"] and data["language"] == "vi" and data["citations"]
    assert "[1]" in data["answer"] and len(data["hits"]) == 5
    for citation in data["citations"]:
        assert SEED_TEXT[citation["start"]:citation["end"]] == citation["quote"]
        assert citation["quote"] in SEED_TEXT and citation["document"] == "000_ae2b548a11784ba7.txt"


def test_ask_takes_k_and_answers_english_questions_in_english(client, assistant):
    question = "Who was elected president on a promise to win back the lost territories?"
    data = client.predict(question, 2, api_name="/ask")
    assert data == roundtrip(assistant.ask(question, k=2).to_dict())
    assert data["language"] == "en" and len(data["hits"]) == 2 and not data["answer"].startswith("Theo tài liệu")


def test_search_returns_k_hits_as_qa_search_json(client, retriever):
    question = "Where did the leaders sign the ceasefire?"
    data = client.predict(question, 3, api_name="/search")
    assert data == roundtrip(retriever.retrieve(question, 3).to_dict())  # the same object as `qa search --json`
    assert data["query"] == question and data["language"] == "en" and len(data["hits"]) == 3
    assert set(data["hits"][0]["scores"]) == {"dense", "sentence", "lexical", "lexical_weight"}


@pytest.mark.parametrize("endpoint, args, expected", [
    ("/ask", ("   ",), "type a question"),
    ("/search", ("x" * 2001, 5), "2001 characters long; the limit is 2000"),
    ("/search", ("Aliev là ai?", 0), "k must be a whole number from 1 to 50"),
    ("/ask", ("Aliev là ai?", 99), "k must be a whole number from 1 to 50"),
])
def test_bad_input_gives_a_clear_error_not_a_trace(client, endpoint, args, expected):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as caught:
        client.predict(*args, api_name=endpoint)
    assert expected in str(caught.value) and "Traceback" not in str(caught.value)


def test_feedback_appends_a_jsonl_row(client, server):
    feedback = server[1]
    before = feedback.read_text("utf-8").splitlines() if feedback.exists() else []
    answer = client.predict("Aliev là ai?", api_name="/ask")
    row = client.predict("Aliev là ai?", answer["answer"], "down", answer["citations"], api_name="/feedback")
    assert row["vote"] == "down" and row["source"] == "api"
    lines = feedback.read_text("utf-8").splitlines()
    assert len(lines) == len(before) + 1
    saved = json.loads(lines[-1])
    assert saved["question"] == "Aliev là ai?" and saved["answer"] == answer["answer"]
    assert saved["citations"] == answer["citations"] and saved["timestamp"].startswith("20")

    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="vote must be"):
        client.predict("Aliev là ai?", "x", "maybe", [], api_name="/feedback")
    assert len(feedback.read_text("utf-8").splitlines()) == len(before) + 1


def test_a_missing_index_gives_a_friendly_message(tmp_path):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    from ui.server import launch

    demo = launch(tmp_path / "no-index", tmp_path, port=free_port(), prevent_thread_lock=True, quiet=True,
                  feedback_path=tmp_path / "feedback.jsonl")
    try:
        with pytest.raises(AppError, match="qa index"):
            Client(demo.local_url, verbose=False).predict("Lệnh ngưng bắn được ký ở đâu?", api_name="/ask")
    finally:
        demo.close()


def test_an_unexpected_failure_is_a_short_message_with_an_id_not_a_trace(tmp_path):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    from ui.app import build_app

    class Broken:
        def stream(self, question, history, k):
            raise RuntimeError("internal detail that must not leak")

    demo = build_app(lambda: Broken(), feedback_path=tmp_path / "feedback.jsonl")
    url = start(demo)
    try:
        with pytest.raises(AppError) as caught:
            Client(url, verbose=False).predict("Where was the ceasefire signed?", api_name="/ask")
    finally:
        demo.close()
    message = str(caught.value)
    assert "Sorry, something went wrong" in message and "internal detail" not in message
    assert "Traceback" not in message


def test_a_rebuilt_index_is_picked_up_without_a_restart(embedder, tmp_path):
    from gradio_client import Client

    from qa import Engine, Retriever, build_index
    from ui.app import build_app

    seeds, index = tmp_path / "seeds", tmp_path / "index"
    seeds.mkdir()
    (seeds / "a.md").write_text("# Armenia\n\nThủ đô của Armenia là Yerevan.\n", encoding="utf-8")
    build_index(seeds, index, embedder=embedder)
    engine = Engine(Retriever.load(index, embedder=embedder), index_dir=index, recheck_seconds=0)
    demo = build_app(engine, seeds_dir=seeds, feedback_path=tmp_path / "feedback.jsonl")
    url = start(demo)
    try:
        client = Client(url, verbose=False)
        assert [h["citation"]["document"] for h in client.predict("Yerevan", 5, api_name="/search")["hits"]] == ["a.md"]
        (seeds / "b.md").write_text("# Georgia\n\nThủ đô của Gruzia là Tbilisi.\n", encoding="utf-8")
        build_index(seeds, index, embedder=embedder)
        hits = client.predict("Thủ đô của Gruzia là gì?", 5, api_name="/search")["hits"]
        assert hits[0]["citation"]["document"] == "b.md" and len(hits) == 2
    finally:
        demo.close()
    assert demo.engine is engine


def test_basic_auth_guards_the_page_and_the_api(assistant, tmp_path):
    from gradio_client import Client

    from ui.app import build_app

    demo = build_app(assistant, feedback_path=tmp_path / "feedback.jsonl")
    url = start(demo, auth="ann:s3cret")
    try:
        assert httpx.get(url + "gradio_api/info", timeout=10).status_code in (401, 403)
        with pytest.raises(Exception):
            Client(url, auth=("ann", "wrong"), verbose=False)
        data = Client(url, auth=("ann", "s3cret"), verbose=False).predict("Aliev là ai?", 1, api_name="/search")
        assert len(data["hits"]) == 1
    finally:
        demo.close()
