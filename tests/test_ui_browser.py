"""The chat in a real browser: headless Debian Chromium driven by Playwright (never Playwright's own browser build).

Skipped, with the reason, only when Chromium cannot be found or started.
"""

import dataclasses
import json
import os
import re
import socket
import statistics
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

CHROMIUM = os.environ.get("QA_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
HOSTILE_DOCUMENT = (
    "Ghi chú an toàn <b>bold</b>\n\n"
    "Phòng thí nghiệm Zeta được thành lập năm 2001 tại Đà Nẵng, theo ghi chú <script>window.__pwned = 1</script> "
    'và chữ <b>bold</b> của người quản lý <img src=x onerror="window.__pwned = 2">.\n\n'
    "Phòng thí nghiệm Zeta nghiên cứu vật liệu mới và có ba mươi nhân viên.\n")
LAST_BOT = "[...document.querySelectorAll('#qa-chat [data-testid=bot]')].pop()"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"Chromium not found at {CHROMIUM} (install it with: apt-get install chromium)")
    from playwright.sync_api import Error, sync_playwright

    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=30_000)
    except Error as error:
        playwright.stop()
        pytest.skip(f"Chromium at {CHROMIUM} could not be started: {str(error).splitlines()[0]}")
    yield chromium
    chromium.close()
    playwright.stop()


def serve_chat(assistant, feedback_path):
    from ui.app import build_app
    from ui.server import serve

    demo = build_app(assistant, feedback_path=feedback_path, examples=["Hiệp định ngừng bắn được ký ở đâu?"])
    serve(demo, "127.0.0.1", free_port(), prevent_thread_lock=True, quiet=True)
    return demo


@pytest.fixture(scope="module")
def seed_chat(retriever, tmp_path_factory):
    from qa import Assistant

    assistant = Assistant(retriever)
    feedback = tmp_path_factory.mktemp("browser-data") / "feedback.jsonl"
    demo = serve_chat(assistant, feedback)
    yield demo.local_url, assistant, feedback
    demo.close()


@pytest.fixture(scope="module")
def hostile_chat(embedder, tmp_path_factory):
    from qa import Retriever, build_index
    from qa import Assistant

    root = tmp_path_factory.mktemp("hostile")
    (root / "seeds").mkdir()
    (root / "seeds" / "ghi-chu.txt").write_text(HOSTILE_DOCUMENT, encoding="utf-8")
    build_index(root / "seeds", root / "index", embedder=embedder)
    assistant = Assistant(Retriever.load(root / "index", embedder=embedder))
    demo = serve_chat(assistant, root / "feedback.jsonl")
    yield demo.local_url, assistant
    demo.close()


class FakeLLM:
    """An OpenAI-compatible chat-completions server on 127.0.0.1 that streams a fixed answer, chunk by chunk."""

    def __init__(self, chunks: list[str], pause: float):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                for chunk in chunks:
                    event = {"choices": [{"index": 0, "delta": {"content": chunk}}]}
                    self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                    self.wfile.flush()
                    time.sleep(pause)
                self.wfile.write(b"data: [DONE]\n\n")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def llm_chat(retriever, tmp_path_factory):
    from qa import Assistant
    from qa import LLMSettings

    words = "Hiệp định ngừng bắn được ký tại Moscow ngày 15 tháng 5 năm 1994 [1].".split(" ")
    fake = FakeLLM([w + " " for w in words], pause=0.08)
    assistant = Assistant(retriever, llm=LLMSettings(fake.url, "fake-model", timeout=10))
    demo = serve_chat(assistant, tmp_path_factory.mktemp("llm") / "feedback.jsonl")
    yield demo.local_url, assistant
    demo.close()
    fake.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1360, "height": 1000}, locale="vi-VN")
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


def open_chat(page, url):
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_selector("#qa-question textarea")


def shown_text(answer: str) -> str:
    """An answer's text as the page shows it: the leading short answer in bold, without its asterisks."""
    return re.sub(r"^\*\*(.+?)\*\*(?= — )", r"\1", answer)


def ask(page, question: str, expected: str | None = None, *, use_example: bool = False) -> dict:
    """Ask through the page; wait until the whole answer is shown. Returns first-token and full-answer times."""
    bots = page.locator("#qa-chat [data-testid=bot]").count()
    if use_example:
        page.locator("#qa-examples button", has_text=question[:40]).first.click()
        page.wait_for_function("q => document.querySelector('#qa-question textarea').value === q", arg=question)
    else:
        page.fill("#qa-question textarea", question)
    page.evaluate("""([n, lastBot]) => {
        window.__qa = {start: performance.now(), first: null};
        const observer = new MutationObserver(() => {
            const bots = document.querySelectorAll('#qa-chat [data-testid=bot]');
            const last = bots[bots.length - 1];
            if (bots.length > n && last && !last.querySelector('em') && last.innerText.trim() && !window.__qa.first) {
                window.__qa.first = performance.now();
            }
        });
        observer.observe(document.querySelector('#qa-chat'), {subtree: true, childList: true, characterData: true});
        window.__qa.observer = observer;
    }""", [bots, LAST_BOT])
    page.press("#qa-question textarea", "Enter")
    if expected is None:
        page.wait_for_function(f"n => document.querySelectorAll('#qa-chat [data-testid=bot]').length > n "
                               f"&& !{LAST_BOT}.querySelector('em')", arg=bots)
    else:
        # a new bubble, not the previous one: two answers in a row may read the same (two abstentions)
        page.wait_for_function(f"([n, e]) => document.querySelectorAll('#qa-chat [data-testid=bot]').length > n "
                               f"&& {LAST_BOT}.innerText.replace(/\\s+/g, ' ').trim() === e",
                               arg=[bots, normalise(shown_text(expected))])
    timing = page.evaluate("() => { window.__qa.observer.disconnect(); "
                           "return {first: window.__qa.first - window.__qa.start, "
                           "full: performance.now() - window.__qa.start}; }")
    return timing


def last_answer(page) -> str:
    return normalise(page.evaluate(f"{LAST_BOT}.innerText"))


def test_vietnamese_and_english_questions_get_cited_answers_and_sources(page, seed_chat, tmp_path):
    url, assistant, feedback = seed_chat
    open_chat(page, url)
    assert "Hỏi đáp · Q&A" in page.locator(".qa-header h1").inner_text()
    timings = []

    vietnamese = "Hiệp định ngừng bắn được ký ở đâu?"
    expected = assistant.ask(vietnamese, k=5)
    timings.append(ask(page, vietnamese, expected.answer, use_example=True))
    newest = page.locator("#qa-sources-box details.qa-turn[open]")
    assert "Câu hỏi 1" in newest.locator("> summary").inner_text()
    if expected.answered:
        assert "theo tài liệu" in expected.answer.lower()
        citation = expected.citations[0]
        card = newest.locator("article.qa-source").first
        assert citation.title in card.inner_text() and f"đoạn {citation.paragraph}" in card.inner_text()
        assert normalise(citation.quote)[:40] in normalise(card.locator("mark").first.inner_text())
        assert re.search(r"điểm \d\.\d{3}", card.inner_text())
        # the marker [1] in the answer scrolls to, and flashes, the cited sentence in the sources panel
        page.locator("#qa-chat a.qa-marker").last.click()
        page.wait_for_selector("#qa-src-1-1.qa-flash")
        assert page.locator("#qa-src-1-1").is_visible()
    else:
        assert newest.locator("article.qa-source").count() >= 1

    english = "In which city did the leaders meet to sign the ceasefire?"
    expected_en = assistant.ask(english, k=5)
    timings.append(ask(page, english, expected_en.answer))
    newest = page.locator("#qa-sources-box details.qa-turn[open]")
    assert "Question 2" in newest.locator("> summary").inner_text()  # the panel follows the question's language
    assert newest.locator("article.qa-source").count() >= 1
    assert page.locator("#qa-sources-box details.qa-turn").count() == 2

    # a follow-up is answered in its own language, with the earlier question as context for retrieval
    follow_up = assistant.ask("And who signed it?", [vietnamese, english], k=5)
    assert follow_up.retrieval_query == f"{english} And who signed it?" and follow_up.language == "en"
    timings.append(ask(page, "And who signed it?", follow_up.answer))

    # thumbs up on the first answer lands in the feedback file
    page.locator("#qa-chat button[aria-label='Like']").first.click()
    page.wait_for_function("() => document.querySelectorAll(\"#qa-chat button[aria-label='Liked']\").length > 0")
    for _ in range(50):
        if feedback.exists() and feedback.read_text("utf-8").strip():
            break
        page.wait_for_timeout(100)
    row = json.loads(feedback.read_text("utf-8").splitlines()[-1])
    assert row["vote"] == "up" and row["question"] == vietnamese and row["answer"] == expected.answer
    assert row["citations"] == [dataclasses.asdict(c) for c in expected.citations]

    screenshot = tmp_path / "hoidap-chat.png"
    page.screenshot(path=str(screenshot), full_page=True)
    print(f"\nscreenshot: {screenshot}")
    print("time to first token / full answer (ms): "
          + ", ".join(f"{t['first']:.0f}/{t['full']:.0f}" for t in timings)
          + f"; median {statistics.median(t['first'] for t in timings):.0f}"
            f"/{statistics.median(t['full'] for t in timings):.0f}")

    page.click("#qa-chat button[aria-label='Clear']")  # the chat's own bin empties the sources panel too
    page.wait_for_selector("#qa-sources-box .qa-empty")
    assert page.locator("#qa-chat [data-testid=bot]").count() == 0


def test_document_html_and_scripts_render_as_text(page, hostile_chat):
    url, assistant = hostile_chat
    open_chat(page, url)
    question = "Phòng thí nghiệm Zeta được thành lập năm nào?"
    expected = assistant.ask(question, k=5)
    ask(page, question, expected.answer)
    page.get_by_text("Cài đặt · Settings").click()  # retrieval details too: rendered from the same passages
    page.locator("#qa-details input").check()
    page.wait_for_selector("#qa-sources-box .qa-scores")

    panel = page.locator("#qa-sources-box").inner_text()
    assert "<script>window.__pwned = 1</script>" in panel and "<b>bold</b>" in panel
    assert '<img src=x onerror="window.__pwned = 2">' in panel
    assert "Ghi chú an toàn <b>bold</b>" in panel  # the title, too
    if expected.answered and "<script>" in expected.answer:  # the reader's short quote may cut it out
        assert "<script>window.__pwned = 1</script>" in last_answer(page)
    assert page.evaluate("typeof window.__pwned") == "undefined"
    for area in ("#qa-chat .message-content", "#qa-sources-box"):
        assert page.locator(f"{area} script, {area} b, {area} img").count() == 0


def test_empty_and_oversized_questions_get_a_friendly_message(page, seed_chat):
    open_chat(page, seed_chat[0])
    ask(page, "")
    assert "Hãy gõ một câu hỏi" in last_answer(page) and "Please type a question" in last_answer(page)
    ask(page, "Why " * 600)
    assert "2399 characters long; the limit is 2000" in last_answer(page)
    assert "Traceback" not in page.locator("body").inner_text()
    page.click("#qa-clear")
    page.wait_for_function("() => document.querySelectorAll('#qa-chat [data-testid=bot]').length === 0")


def test_an_llm_answer_streams_in_as_it_is_written_then_links_its_citations(page, llm_chat):
    url, assistant = llm_chat
    open_chat(page, url)
    page.evaluate("""() => {
        window.__texts = [];
        new MutationObserver(() => {
            const bots = document.querySelectorAll('#qa-chat [data-testid=bot]');
            const text = bots.length ? bots[bots.length - 1].innerText.trim() : '';
            if (text && window.__texts[window.__texts.length - 1] !== text) window.__texts.push(text);
        }).observe(document.querySelector('#qa-chat'), {subtree: true, childList: true, characterData: true});
    }""")
    final = "Hiệp định ngừng bắn được ký tại Moscow ngày 15 tháng 5 năm 1994 [1]."
    written = final + " Viết bởi fake-model · đã kiểm tra trích dẫn"  # the answer names the model that wrote it
    ask(page, "Hiệp định ngừng bắn được ký ở đâu?", written)
    texts = [t for t in page.evaluate("window.__texts") if "Hiệp định" in t]
    assert len(texts) >= 4 and texts[0] != final  # the words arrived one after another, not all at once
    page.wait_for_selector("#qa-chat a.qa-marker")  # linked once the answer is verified
    assert page.locator("#qa-chat a.qa-marker").count() == 1 and last_answer(page) == written
    card = page.locator("#qa-sources-box details.qa-turn[open] article.qa-source").first
    assert "Moscow" in card.inner_text()
