"""The chat's pure parts: escaping, marker links, the sources panel, the feedback log, auth and `qa chat`."""

import dataclasses
import html
import json
import threading

import pytest
from click.testing import CliRunner

from ui.chat import whole_k, writer_note
from ui.feedback import FeedbackLog, vote_of
from ui.markup import SourceView, chat_markup, escape_text, render_sources
from ui.server import parse_auth
from ui.strings import describe_error

HOSTILE = '<script>window.__pwned = 1</script> <b>bold</b> <img src=x onerror="alert(1)"> **not bold** $$x$$ ' \
          "[link](javascript:alert(1)) https://example.com `code` # heading"


def test_escaped_text_reads_exactly_as_written_and_holds_no_markup():
    escaped = escape_text(HOSTILE)
    assert html.unescape(escaped) == HOSTILE
    for live in ("<", ">", "**", "$$", "](", "`", "://"):
        assert live not in escaped
    multiline = "- item\n1. first\n> quote\n# title"
    assert html.unescape(escape_text(multiline)) == multiline
    assert "\n-" not in "\n" + escape_text(multiline) and "\n1." not in "\n" + escape_text(multiline)


def test_markers_link_to_their_passages_and_nothing_else_does():
    markup = chat_markup("Theo tài liệu: Aliev <b>x</b> [1] và [2] [7]", turn=3, markers=[1, 2])
    assert '<a class="qa-marker" href="#qa-src-3-1"' in markup and 'href="#qa-src-3-2"' in markup
    assert "#qa-src-3-7" not in markup and "&#91;7&#93;" in markup  # not a citation: stays text
    assert "<b>" not in markup and "&#60;b&#62;x" in markup
    assert "<a" not in chat_markup("[1] partial [", turn=None)


def test_the_short_answer_leads_in_bold_and_stays_escaped():
    markup = chat_markup("**Moskva <i>** — theo tài liệu: “… tại Moskva …” [1]", turn=1, markers=[1])
    assert markup.startswith("<strong>Moskva &#60;i&#62;</strong> — theo tài liệu")
    assert "<i>" not in markup and 'href="#qa-src-1-1"' in markup
    assert "<strong>" not in chat_markup("a **b** — c")  # only a leading short answer is bold


def hostile_turn() -> dict:
    text = f"Phòng thí nghiệm Zeta ghi chú {HOSTILE}. Câu khác."
    sentence = f"Phòng thí nghiệm Zeta ghi chú {HOSTILE}."
    view = SourceView(rank=1, passage_id="evil#1.1", document="evil<i>.txt", title="Tiêu đề <script>x()</script>",
                      section="<b>Phần</b>", paragraph=2, score=0.91234,
                      scores={"dense": 0.8, "sentence": 0.9, "lexical": 0.5, "lexical_weight": 0.1}, text=text,
                      marks=[(0, len(sentence), 1)], extra_quotes=[])
    other = SourceView(2, "evil#2.1", "evil<i>.txt", "T", None, 3, 0.5,
                       {"dense": 0.1, "sentence": 0.2, "lexical": 0.0, "lexical_weight": 0.1}, "<u>u</u>", [], [])
    return {"number": 4, "question": "Câu hỏi <script>q()</script>?", "language": "vi", "query": "ctx <q>",
            "answer": {"language": "vi", "confidence": 0.97}, "cited": [view], "others": [other], "error": None}


@pytest.mark.parametrize("details", [False, True])
def test_the_sources_panel_escapes_every_document_string(details):
    panel = render_sources([hostile_turn()], details)
    assert "<script" not in panel and "<b>" not in panel and "<img" not in panel and "<u>" not in panel
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in panel
    assert '<mark id="qa-src-4-1">' in panel  # the cited sentence, highlighted, is the marker's target
    assert "0.912" in panel and "đoạn 2" in panel and "Nguồn được trích dẫn" in panel
    assert ("dense 0.800" in panel) is details and ("Ngôn ngữ câu hỏi" in panel) is details


def test_the_panel_follows_the_question_language():
    turn = dict(hostile_turn(), language="en")
    panel = render_sources([turn], False)
    assert "Cited sources" in panel and "¶2" in panel and "Question 4" in panel
    assert "qa-empty" in render_sources([], False)


def test_friendly_messages_for_bad_input_and_a_missing_index():
    from qa import IndexNotFoundError, InvalidQuestionError
    from qa.retrieval.retriever import validate_question

    def refusal(question: str) -> str:
        with pytest.raises(InvalidQuestionError) as caught:
            validate_question(question)
        return describe_error(caught.value, question)

    assert "Hãy gõ một câu hỏi" in refusal("  ") and "Please type a question" in refusal("")
    assert "Please type a question" in refusal("\u200b\u202e\u2066 \u00ad")  # nothing visible
    assert "2001 ký tự" in refusal("Tại sao " + "ư" * 1993)
    assert "characters long" in refusal("why " * 501)
    invalid = refusal("Aliev \ud800?")
    assert "invalid Unicode" in invalid and "characters long" not in invalid
    assert "qa index" in describe_error(IndexNotFoundError("No index in x"), "Where?")
    message = describe_error(RuntimeError("secret internals"), "Where?")
    assert "secret" not in message and "Traceback" not in message and "error" in message


def test_feedback_rows_never_interleave_under_concurrency(tmp_path):
    log = FeedbackLog(tmp_path / "data" / "feedback.jsonl")
    big = "Câu trả lời dài. " * 800  # ~14 kB a row: larger than a pipe buffer, so interleaving would show

    def vote(worker):
        for i in range(25):
            log.append({"vote": "up", "question": f"q{worker}-{i}", "answer": big, "citations": []})

    threads = [threading.Thread(target=vote, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = [json.loads(line) for line in (tmp_path / "data" / "feedback.jsonl").read_text("utf-8").splitlines()]
    assert len(rows) == 200 and {r["question"] for r in rows} == {f"q{w}-{i}" for w in range(8) for i in range(25)}
    assert all(r["answer"] == big and r["timestamp"] for r in rows)


def test_votes():
    assert (vote_of(True), vote_of(False), vote_of(""), vote_of("Like"), vote_of("Dislike")) == \
        ("up", "down", "withdrawn", "up", "down")


def test_k_from_a_slider_or_an_api_caller():
    from qa import InvalidArgumentError

    assert whole_k(5) == whole_k(5.0) == whole_k("5") == 5
    for bad in (2.5, "five", None, True):
        with pytest.raises(InvalidArgumentError, match="k must be a whole number"):
            whole_k(bad)


def test_auth_parsing():
    from qa import InvalidArgumentError

    assert parse_auth("alice:s3:cret") == ("alice", "s3:cret")
    assert parse_auth(None) is None and parse_auth("") is None
    for bad in ("alice", ":pw", "alice:"):
        with pytest.raises(InvalidArgumentError):
            parse_auth(bad)


@pytest.fixture
def launched(monkeypatch):
    import ui.server

    calls = []
    monkeypatch.setattr(ui.server, "launch", lambda *args, **kwargs: calls.append((args, kwargs)))
    return calls


def test_chat_command_binds_localhost_and_never_shares_by_default(launched, tmp_path, monkeypatch):
    from ui.command import chat_command

    monkeypatch.delenv("QA_AUTH", raising=False)
    result = CliRunner().invoke(chat_command, ["--index", str(tmp_path / "index"), "--seeds", str(tmp_path)])
    assert result.exit_code == 0, result.output
    (args, kwargs), = launched
    assert kwargs["host"] == "127.0.0.1" and kwargs["port"] == 7860 and kwargs["share"] is False
    assert kwargs["auth"] is None and str(kwargs["feedback_path"]).endswith("data/feedback.jsonl")
    assert kwargs["llm"] is None  # extractive answers unless an LLM server is configured


def test_chat_command_reads_auth_from_the_environment_and_rejects_a_bad_one(launched, tmp_path):
    from ui.command import chat_command

    result = CliRunner().invoke(chat_command, ["--index", str(tmp_path), "--port", "7999"],
                                env={"QA_AUTH": "ann:pw"})
    assert result.exit_code == 0, result.output
    assert launched[0][1]["auth"] == "ann:pw" and launched[0][1]["port"] == 7999
    bad = CliRunner().invoke(chat_command, ["--index", str(tmp_path), "--auth", "no-colon"])
    assert bad.exit_code == 2 and "user:password" in bad.output and len(launched) == 1


def test_chat_command_takes_the_llm_settings_of_qa_ask(launched, tmp_path, monkeypatch):
    from ui.command import chat_command

    monkeypatch.delenv("QA_AUTH", raising=False)
    result = CliRunner().invoke(chat_command, ["--index", str(tmp_path), "--llm-model", "qwen"],
                                env={"QA_LLM_URL": "http://127.0.0.1:11434"})
    assert result.exit_code == 0, result.output
    llm = launched[0][1]["llm"]
    assert llm.endpoint == "http://127.0.0.1:11434/v1/chat/completions" and llm.model == "qwen"
    bad = CliRunner().invoke(chat_command, ["--index", str(tmp_path), "--llm", "localhost:11434"])
    assert bad.exit_code == 2 and "http://" in bad.output and len(launched) == 1


def test_the_core_never_imports_ui():
    import ast
    from pathlib import Path

    import qa

    offenders = []
    for path in Path(qa.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            offenders += [f"{path.name}:{node.lineno} {n}" for n in names if n == "ui" or n.startswith("ui.")]
    assert offenders == []


def test_qa_chat_comes_from_its_entry_point_and_loads_only_when_named():
    import subprocess
    import sys

    from qa.cli.app import main

    result = CliRunner().invoke(main, ["chat", "--help"])
    assert result.exit_code == 0, result.output
    assert "--auth USER:PASS" in result.output and "--llm URL" in result.output
    assert "chat" in CliRunner().invoke(main, ["--help"]).output
    probe = ("import sys; from click.testing import CliRunner; from qa.cli.app import main; "
             "assert CliRunner().invoke(main, ['status', '--help']).exit_code == 0; "
             "print(sorted(m for m in sys.modules if m == 'ui' or m.startswith('ui.')))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


def test_closing_the_chat_stream_frees_the_engine_slot(tmp_path):
    """What Gradio does when a client goes away or presses stop: it closes the handler's generator."""
    import qa
    from ui.chat import Chat

    class Endless:
        def __init__(self):
            self.closed = threading.Event()

        def stream(self, question, history, k):
            try:
                for n in range(10_000):
                    yield f"từ{n} "
            finally:
                self.closed.set()

    answerer = Endless()
    engine = qa.Engine(lambda: answerer, max_concurrent=1, wait_seconds=0.1)
    chat = Chat(engine, FeedbackLog(tmp_path / "feedback.jsonl"), stream_delay=0)
    handler = chat.respond("Hiệp định được ký ở đâu?", [], [], 5, False)
    assert "Đang tìm" in next(handler)[0][-1]["content"]
    assert next(handler)[0][-1]["content"] == "từ0 "
    assert engine.busy == 1
    with pytest.raises(qa.QAError, match="answering 1 question"):
        next(engine.stream("Một câu hỏi khác?"))  # the slot is taken
    handler.close()
    assert engine.busy == 0 and answerer.closed.is_set()
    assert next(engine.stream("Một câu hỏi khác?")) == "từ0 "  # the slot is free again


def test_the_documents_panel_refreshes_its_table_only_when_the_corpus_changed(tmp_path):
    import gradio as gr

    import qa
    from ui.documents import DocumentsPanel

    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "a.md").write_text("# A\n\nThe <b>first</b> text.\n", encoding="utf-8")
    panel = DocumentsPanel(seeds, tmp_path / "index", qa.BackgroundIndexer(seeds, tmp_path / "index"))
    table, _, _, seen = panel.tick(None)
    assert "a.md" in table and "pending" in table and "<b>" not in table
    again, _, _, same = panel.tick(seen)
    assert isinstance(again, type(gr.skip())) and same == seen  # nothing changed: no re-listing
    (seeds / "b.md").write_text("# B\n\nMore.\n", encoding="utf-8")
    table, _, choices, _ = panel.tick(seen)
    assert choices["choices"] and "b.md" in [c[0] if isinstance(c, (list, tuple)) else c for c in choices["choices"]]
    assert "b.md" in table


def test_an_answer_names_the_llm_that_wrote_it_or_why_its_answer_was_not_used():
    from qa import Answer

    plain = Answer("q", "en", True, "Moscow [1]", "Moscow", 0.9, [], [])
    assert writer_note(plain) == ""  # extractive: no LLM was asked
    written = writer_note(dataclasses.replace(plain, backend="llm", model="qwen-0.5b"))
    assert "Written by qwen-0.5b · citations checked" in written and "<em>" not in written
    unnamed = writer_note(dataclasses.replace(plain, backend="llm", model="default"))  # --llm URL, no --llm-model
    assert "Written by LLM" in unnamed
    fell_back = writer_note(dataclasses.replace(plain, language="vi", model="qwen-0.5b",
                                                fallback_reason="the answer cites none of the passages it was given"))
    assert "Không dùng câu trả lời của qwen-0.5b (the answer cites none" in fell_back
