"""The documents panel in a real browser: upload a PDF by drag-and-drop's file input, watch it index in the
background while the chat keeps answering, then get an answer citing its page; remove it again; a refused
upload is named with its reason; no copy of an upload stays in Gradio's upload folder. A chat that does not
manage documents lists them but has no upload or remove control. Screenshots of the panel and of a PDF citation
go to the test's folder."""

from __future__ import annotations

import shutil

import pytest

from conftest import SEEDS
from test_formats import FILLER, HISTORY_HTML, print_pdf
from test_ui_browser import browser, free_port, open_chat, page  # noqa: F401 - fixtures

pytestmark = pytest.mark.slow


def start_chat(embedder, tmp_path, manage: bool):
    from qa import Engine, build_index
    from ui.app import build_app
    from ui.server import serve

    seeds, index = tmp_path / "seeds", tmp_path / "index"
    shutil.copytree(SEEDS, seeds)
    build_index(seeds, index, embedder=embedder)
    engine = Engine.open(index, recheck_seconds=0.5)
    engine.preload().join()
    demo = build_app(engine, seeds_dir=seeds, feedback_path=tmp_path / "feedback.jsonl", stream_delay=0,
                     manage_documents=manage)
    serve(demo, "127.0.0.1", free_port(), prevent_thread_lock=True, quiet=True)
    return demo, seeds


@pytest.fixture
def documents_chat(embedder, tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio-uploads"))  # a folder this test can search
    demo, seeds = start_chat(embedder, tmp_path, manage=True)
    yield demo, seeds, tmp_path
    demo.close()


def test_a_read_only_chat_lists_the_documents_but_cannot_change_them(page, embedder, tmp_path):  # noqa: F811
    demo, _ = start_chat(embedder, tmp_path, manage=False)
    try:
        open_chat(page, demo.local_url)
        page.locator("#qa-documents-panel button").first.click()
        page.wait_for_selector("#qa-documents table")
        assert "000_ae2b548a11784ba7.txt" in page.locator("#qa-documents").inner_text()
        assert page.locator("#qa-upload").count() == 0 and page.locator("input[type=file]").count() == 0
        assert page.locator("#qa-remove").count() == 0
    finally:
        demo.close()


def test_upload_index_in_the_background_answer_with_the_page_then_remove(page, documents_chat):  # noqa: F811
    demo, seeds, folder = documents_chat
    pdf = folder / "Lịch sử Thăng Long.pdf"
    pdf.write_bytes(print_pdf(HISTORY_HTML.format(filler=FILLER * 3), folder))
    bad = folder / "broken.docx"
    bad.write_bytes(b"PK\x03\x04 not a Word file")
    open_chat(page, demo.local_url)
    page.locator("#qa-documents-panel button").first.click()  # open the accordion
    page.wait_for_selector("#qa-documents table")
    assert "000_ae2b548a11784ba7.txt" in page.locator("#qa-documents").inner_text()

    page.set_input_files("#qa-upload input[type=file]", str(bad))
    page.wait_for_function("() => document.querySelector('#qa-documents-status').innerText.includes('broken.docx')")
    page.wait_for_function("() => document.querySelector('#qa-documents-status').innerText"
                           ".includes('not a readable Word document')")  # checked in the background, then shown
    assert "Not added" in page.locator("#qa-documents-status").inner_text()
    assert not (seeds / "broken.docx").exists()

    page.set_input_files("#qa-upload input[type=file]", str(pdf))
    page.wait_for_function("() => document.querySelector('#qa-documents-status').innerText.includes('Index updated')",
                           timeout=120_000)
    assert (seeds / "Lịch sử Thăng Long.pdf").exists()
    uploads = folder / "gradio-uploads"
    assert uploads.is_dir() and not [p for p in uploads.rglob("*") if p.suffix in (".pdf", ".docx")]
    table = page.locator("#qa-documents").inner_text()
    assert "Lịch sử Thăng Long" in table and "PDF" in table and "passages" in table
    page.screenshot(path=str(folder / "documents-panel.png"), full_page=True)

    page.fill("#qa-question textarea", "Văn Miếu được xây dựng vào năm nào?")
    page.press("#qa-question textarea", "Enter")
    page.wait_for_function("() => [...document.querySelectorAll('#qa-sources-box article.qa-source')]"
                           ".some(card => card.innerText.includes('tr. 2'))", timeout=60_000)
    card = page.locator("#qa-sources-box article.qa-source", has_text="tr. 2").first
    assert "Văn Miếu" in card.inner_text() and "1070" in card.inner_text()
    page.screenshot(path=str(folder / "pdf-citation.png"), full_page=True)

    page.locator("#qa-remove-choice input").fill("Lịch sử Thăng Long.pdf")
    page.locator("#qa-remove-choice input").press("Enter")
    page.locator("#qa-remove").click()
    page.wait_for_function("() => document.querySelector('#qa-documents-status').innerText.includes('Removed')")
    assert not (seeds / "Lịch sử Thăng Long.pdf").exists()
    page.wait_for_function("() => document.querySelector('#qa-documents-status').innerText.includes('Index updated')"
                           " && !document.querySelector('#qa-documents').innerText.includes('Thăng Long')",
                           timeout=120_000)
