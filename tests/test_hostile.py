"""Hostile files and open doors (issue 20): each row of the attack table as a test, with fixtures made here
(tests/hostile_files.py). Each finishes in seconds and leaves the corpus (and the index) as it was."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from pathlib import Path

import pytest

import qa
from qa.documents.corpus import MAX_NAME_BYTES, add_documents, safe_name
from qa.documents.formats import LimitExceededError, ParseLimits, extract
from qa.documents.parsing import BoundedParser

from hostile_files import docx_bomb, docx_paragraph_flood, long_vietnamese_name, nested_html

QA = [sys.executable, "-m", "qa"]


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` (hidden ones too) with its content hash."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def seeds(tmp_path):
    folder = tmp_path / "seeds"
    folder.mkdir()
    (folder / "quy-dinh.md").write_text("# Quy định\n\nThư viện mở cửa từ 7 giờ sáng.\n", encoding="utf-8")
    return folder


# -------------------------------------------------------------------------------------- bounded parsing

def test_a_docx_zip_bomb_is_refused_before_it_is_unzipped(seeds, tmp_path):
    bomb = tmp_path / "bomb.docx"
    bomb.write_bytes(docx_bomb())  # ~0.3 MB that unzips to 196 MB
    assert bomb.stat().st_size < 1024 * 1024
    before = snapshot(seeds)
    started = time.monotonic()
    with pytest.raises(qa.DocumentRejectedError, match=r"bomb\.docx: .*unpacked size"):
        add_documents(seeds, [bomb])
    assert time.monotonic() - started < 10
    assert snapshot(seeds) == before


def test_a_zip_bomb_in_the_seeds_is_skipped_by_name_and_limit_and_the_rest_indexed(seeds, embedder, tmp_path):
    (seeds / "bomb.docx").write_bytes(docx_bomb())
    with pytest.warns(qa.SkippedDocumentWarning, match=r"bomb\.docx: .*limit on unpacked size"):
        report = qa.build_index(seeds, tmp_path / "index", embedder=embedder)
    assert report.documents == 1


def test_a_flood_of_empty_paragraphs_reads_in_seconds():
    flood = docx_paragraph_flood()  # 80,000 empty paragraphs, each naming a style
    assert len(flood) < 100_000
    started = time.monotonic()
    with pytest.raises(qa.documents.formats.UnreadableDocumentError, match="holds no text"):
        extract("flood.docx", flood)
    assert time.monotonic() - started < 15  # was 279 s: a style lookup per paragraph


def test_deeply_nested_html_reads_in_linear_time():
    page = nested_html()  # ~260 KB, 23,000 <div>s deep
    started = time.monotonic()
    assert extract("nested.html", page).text == "Một câu ở tận cùng.\n"
    assert time.monotonic() - started < 15  # was 307 s: an ancestor walk per element


def test_element_and_text_limits_name_the_limit():
    with pytest.raises(LimitExceededError, match="elements") as caught:
        extract("nested.html", nested_html(), ParseLimits(elements=1000))
    assert caught.value.limit == "elements"
    with pytest.raises(LimitExceededError, match="text length") as caught:
        extract("notes.txt", ("chữ " * 1000).encode(), ParseLimits(chars=100))
    assert caught.value.limit == "chars"


def test_a_reader_over_its_time_is_killed_and_the_next_file_still_reads():
    with BoundedParser(ParseLimits(seconds=0.3), workers=1) as parser:
        started = time.monotonic()
        outcomes = list(parser.parse_all([("flood.docx", docx_paragraph_flood(200_000)),
                                          ("page.html", b"<main><p>Xin ch\xc3\xa0o.</p></main>")]))
        assert time.monotonic() - started < 10
    (_, _, slow), (_, _, page) = outcomes
    assert isinstance(slow, LimitExceededError) and slow.limit == "seconds" and "0.3 s" in str(slow)
    assert page.text == "Xin chào.\n"  # a fresh worker replaced the killed one


def test_the_bounded_reader_matches_the_bare_one(tmp_path):
    from test_formats import NEWS_HTML, docx_bytes

    files = [("news.html", NEWS_HTML), ("report.docx", docx_bytes()), ("notes.md", "# Ghi chú\n\nMột.\n".encode())]
    with BoundedParser() as parser:
        for name, raw, outcome in parser.parse_all(files):
            assert outcome == extract(name, raw)


# ------------------------------------------------------------------------- names and all-or-nothing adds

def test_a_long_vietnamese_name_is_cut_to_a_byte_budget_between_letters(seeds, tmp_path):
    name = long_vietnamese_name()  # 140 letters, 424 bytes
    assert len(name.encode()) > 255
    given = tmp_path / "ghi.txt"
    given.write_text("Một tệp có tên rất dài.\n", encoding="utf-8")
    [written] = add_documents(seeds, [given], names=[name])
    assert len(written.encode()) <= MAX_NAME_BYTES and written.endswith(".txt")
    assert name.startswith(written.removesuffix(".txt")) and (seeds / written).is_file()
    assert safe_name(written) == written


def test_a_multi_file_add_that_fails_midway_leaves_the_folder_as_it_was(seeds, tmp_path):
    (seeds / "quy-dinh.md").write_text("# Quy định\n\nBản cũ.\n", encoding="utf-8")
    (seeds / "b.txt").mkdir()  # the second file's place is taken by a folder: its rename fails
    before = snapshot(seeds)
    new, second = tmp_path / "new.md", tmp_path / "b.txt"
    new.write_text("# Quy định\n\nBản mới.\n", encoding="utf-8")
    second.write_text("Tệp thứ hai.\n", encoding="utf-8")
    with pytest.raises(qa.DocumentRejectedError, match=r"b\.txt: it cannot be written"):
        add_documents(seeds, [new, second], names=["quy-dinh.md", "b.txt"])
    assert snapshot(seeds) == before  # the replaced file is back, no temporary left
    assert (seeds / "quy-dinh.md").read_text(encoding="utf-8").endswith("Bản cũ.\n")


def test_a_refused_file_in_a_multi_file_add_adds_none(seeds, tmp_path):
    good, bomb = tmp_path / "good.md", tmp_path / "bomb.docx"
    good.write_text("# Tốt\n\nMột tệp tốt.\n", encoding="utf-8")
    bomb.write_bytes(docx_bomb())
    before = snapshot(seeds)
    with pytest.raises(qa.DocumentRejectedError, match="bomb.docx"):
        add_documents(seeds, [good, bomb])
    assert snapshot(seeds) == before


# --------------------------------------------------------------------------------- uploads off the web thread

def test_uploads_are_checked_in_the_background_and_their_copies_deleted(seeds, tmp_path, monkeypatch):
    from ui.documents import DocumentsPanel

    uploads = tmp_path / "gradio"
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(uploads))
    (uploads / "abc").mkdir(parents=True)
    slow = uploads / "abc" / "flood.docx"
    slow.write_bytes(docx_paragraph_flood())  # about 2 s to read
    indexer = qa.BackgroundIndexer(seeds, tmp_path / "index")
    panel = DocumentsPanel(seeds, tmp_path / "index", indexer, manage=True)
    before = snapshot(seeds)
    started = time.monotonic()
    *_, cleared = panel.upload([slow])
    assert time.monotonic() - started < 1.0 and cleared is None  # the request thread did not parse it
    assert "flood.docx" in indexer.status().checking
    assert indexer.wait(60)
    status = indexer.status()
    assert "flood.docx" in status.refused and "holds no text" in status.refused and not status.checking
    assert "Not added" in panel.status_text()
    assert snapshot(seeds) == before
    assert not slow.exists() and not slow.parent.exists()  # no copy left for /gradio_api/file= to serve


# ------------------------------------------------------------------------------------ who may change things

def test_a_chat_is_read_only_unless_asked(tmp_path):
    import gradio as gr

    from ui.app import build_app

    seeds = tmp_path / "seeds"
    seeds.mkdir()

    def components(demo: gr.Blocks) -> set[str]:
        return {block.elem_id for block in demo.blocks.values() if getattr(block, "elem_id", None)}

    read_only = build_app(lambda: None, index_dir=tmp_path / "index", seeds_dir=seeds, examples=[],
                          feedback_path=tmp_path / "f.jsonl")
    assert "qa-documents" in components(read_only)  # the list is shown
    assert not {"qa-upload", "qa-remove"} & components(read_only)
    managed = build_app(lambda: None, index_dir=tmp_path / "index", seeds_dir=seeds, examples=[],
                        feedback_path=tmp_path / "f.jsonl", manage_documents=True)
    assert {"qa-upload", "qa-remove"} <= components(managed)


@pytest.mark.parametrize("args, message", [
    (["--host", "0.0.0.0", "--manage-documents"], "--manage-documents on 0.0.0.0 needs --auth"),
    (["--mcp", "--auth", "ann:s3cret"], "--mcp cannot be combined with --auth"),
])
def test_qa_chat_refuses_open_doors_with_what_to_do(tmp_path, args, message):
    result = subprocess.run([*QA, "chat", "--seeds", str(tmp_path), "--index", str(tmp_path / "index"), *args],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


# ------------------------------------------------------------------------------------------------- feedback

def test_feedback_fields_are_capped_and_refused_rows_not_stored(tmp_path):
    from ui.feedback import FeedbackLog, api_vote_row

    log = FeedbackLog(tmp_path / "feedback.jsonl")
    with pytest.raises(qa.InvalidArgumentError, match="answer is 20,000,000 characters"):
        log.append(api_vote_row("Hỏi gì?", "x" * 20_000_000, "up", []))
    with pytest.raises(qa.InvalidArgumentError, match="citations is 51 items"):
        log.append(api_vote_row("Hỏi gì?", "Đáp.", "up", [{}] * 51))
    assert not log.path.exists()
    log.append(api_vote_row("Hỏi gì?", "Đáp.", "down", [{"document": "a.md"}]))
    assert len(log.path.read_text(encoding="utf-8").splitlines()) == 1


def test_feedback_is_rate_limited_per_client():
    from ui.feedback import RateLimit, TooManyVotesError

    limit = RateLimit(per_minute=3)
    for _ in range(3):
        limit.check("host:10.0.0.1")
    with pytest.raises(TooManyVotesError, match="More than 3 votes a minute"):
        limit.check("host:10.0.0.1")
    limit.check("host:10.0.0.2")  # another client is not held back


def test_the_feedback_log_rotates_and_keeps_a_bounded_number(tmp_path):
    from ui.feedback import FeedbackLog

    log = FeedbackLog(tmp_path / "feedback.jsonl", max_bytes=2000, kept=2)
    for n in range(100):
        log.append({"vote": "up", "question": f"câu {n}", "answer": "đáp " * 20})
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["feedback.jsonl", "feedback.jsonl.1", "feedback.jsonl.2"]
    assert all((tmp_path / name).stat().st_size <= 2000 for name in files)
    assert '"câu 99"' in log.path.read_text(encoding="utf-8")
