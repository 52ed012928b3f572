"""PDF, Word and HTML documents, read into the same `Document` as text: structure (title, heading paths,
paragraphs, pages) and exact spans. Every fixture is made here, at test time: the PDF is printed by headless
Chromium from HTML written below, the Word file is written with python-docx.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import warnings
import zipfile
from pathlib import Path

import pytest

import qa
from qa.documents.formats import UnreadableDocumentError, extract

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

HISTORY_HTML = """<!doctype html><html lang="vi"><head><meta charset="utf-8"><title>Lịch sử Thăng Long</title>
<style>body {{ font: 12pt serif; }} h1 {{ font-size: 24pt; }} h2 {{ font-size: 17pt; }}
.next {{ break-before: page; }}</style></head><body>
<h1>Lịch sử Thăng Long</h1>
<p>Thăng Long là tên cũ của Hà Nội. Thành phố nằm bên bờ sông Hồng và có lịch sử hơn một nghìn năm.</p>
<h2>Thời Lý</h2>
<p>Năm 1010, vua Lý Thái Tổ dời đô từ Hoa Lư về Đại La và đổi tên thành Thăng Long. {filler}</p>
<h2 class="next">Văn Miếu</h2>
<p>Văn Miếu được xây dựng năm 1070 dưới thời vua Lý Thánh Tông. Nơi đây có 82 tấm bia tiến sĩ.</p>
</body></html>"""
FILLER = "Những chữ có dấu như khuỷu tay, ưỡn ngực, nghiêng ngả và thuở ấy được giữ nguyên. "


def print_pdf(html: str, folder: Path) -> bytes:
    source = folder / "source.html"
    source.write_text(html, encoding="utf-8")
    target = folder / "out.pdf"
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
                    f"--print-to-pdf={target}", source.as_uri()], check=True, capture_output=True, timeout=120)
    return target.read_bytes()


@pytest.fixture(scope="module")
def history_pdf(tmp_path_factory) -> bytes:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (make test installs it): the PDF fixture cannot be printed")
    return print_pdf(HISTORY_HTML.format(filler=FILLER * 3), tmp_path_factory.mktemp("pdf"))


def docx_bytes() -> bytes:
    import docx

    document = docx.Document()
    document.core_properties.title = "Báo cáo mùa màng"
    document.add_heading("Báo cáo mùa màng", level=0)
    document.add_paragraph("Báo cáo này tóm tắt vụ lúa năm 2025 ở đồng bằng sông Cửu Long.")
    document.add_heading("Sản lượng", level=1)
    document.add_paragraph("Sản lượng lúa đạt 24 triệu tấn, tăng 3% so với năm trước.")
    document.add_heading("Theo tỉnh", level=2)
    table = document.add_table(rows=3, cols=2)
    for row, (province, tonnes) in zip(table.rows, [("Tỉnh", "Sản lượng"), ("An Giang", "4,1 triệu tấn"),
                                                   ("Kiên Giang", "4,3 triệu tấn")]):
        row.cells[0].text, row.cells[1].text = province, tonnes
    document.add_paragraph("Kiên Giang dẫn đầu về sản lượng.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


NEWS_HTML = b"""<!doctype html><html><head><title>Harbour news</title><script>var tracker = 1;</script>
<style>nav { color: red }</style></head><body>
<nav><a href="/">Home</a> <a href="/sport">Sport</a> <a href="/about">About us</a></nav>
<header><div>Sign in | Subscribe</div></header>
<main><article><h1>The new lighthouse</h1>
<p>The town of Oskarsund opened its new lighthouse on 3 May.</p>
<h2>Its lamp</h2><p>The lamp can be seen from <b>32 kilometres</b> away.</p>
<script>document.title = "pwned";</script>
<p>A plaque reads: &lt;script&gt;alert(1)&lt;/script&gt; as a joke.</p>
<table><tr><th>Year</th><th>Keeper</th></tr><tr><td>1901</td><td><p>Ada Lind</p></td></tr></table>
</article></main><aside>Most read: the ferry timetable</aside>
<footer>Copyright 2026 Harbour News</footer></body></html>"""


def read_one(tmp_path: Path, name: str, data: bytes) -> qa.Document:
    seeds = tmp_path / "seeds"
    seeds.mkdir(exist_ok=True)
    (seeds / name).write_bytes(data)
    [document] = [d for d in qa.read_documents(seeds) if d.name == name]
    return document


def passages_of(document: qa.Document) -> list[qa.Passage]:
    passages = qa.split_document(document)
    for passage in passages:  # spans exact into the stored text
        assert qa.text.clean_text(document.text[passage.start:passage.end]) == passage.text
        for sentence in passage.sentences:
            assert passage.start <= sentence.start < sentence.end <= passage.end
    return passages


def test_a_vietnamese_pdf_keeps_its_diacritics_headings_and_pages(history_pdf, tmp_path):
    document = read_one(tmp_path, "lich-su.pdf", history_pdf)
    assert document.kind == "pdf" and document.title == "Lịch sử Thăng Long"
    assert FILLER.strip() in " ".join(document.text.split())  # every diacritic intact
    assert len(document.page_starts) == 2
    passages = passages_of(document)
    by_section = {p.section: p for p in passages}
    assert by_section["Thời Lý"].page == 1 and "Năm 1010" in by_section["Thời Lý"].text
    assert by_section["Văn Miếu"].page == 2 and "82 tấm bia" in by_section["Văn Miếu"].text
    assert document.page_at(by_section["Văn Miếu"].start) == 2


def test_pdf_citations_carry_the_page_and_quote_the_stored_text(history_pdf, tmp_path, embedder):
    seeds, index = tmp_path / "seeds", tmp_path / "index"
    seeds.mkdir()
    (seeds / "lich-su.pdf").write_bytes(history_pdf)
    qa.build_index(seeds, index, embedder=embedder)
    retriever = qa.Retriever.load(index, embedder=embedder)
    answer = qa.Assistant(retriever).ask("Văn Miếu được xây dựng vào năm nào?")
    assert answer.answered and "1070" in answer.answer
    citation = answer.citations[0]
    text = retriever.store.documents["lich-su.pdf"].text
    assert citation.page == 2 and citation.quote == text[citation.start:citation.end]
    assert answer.to_dict()["citations"][0]["page"] == 2
    assert answer.hits[0].to_dict()["citation"]["page"] == 2


def test_a_word_file_has_its_heading_path_and_table_rows(tmp_path):
    document = read_one(tmp_path, "bao-cao.docx", docx_bytes())
    assert document.kind == "docx" and document.title == "Báo cáo mùa màng" and document.page_starts == ()
    passages = passages_of(document)
    sections = [(p.section, p.text) for p in passages]
    assert (None, "Báo cáo này tóm tắt vụ lúa năm 2025 ở đồng bằng sông Cửu Long.") in sections
    assert ("Sản lượng", "Sản lượng lúa đạt 24 triệu tấn, tăng 3% so với năm trước.") in sections
    # a table is one passage, its header row with its data rows
    assert ("Sản lượng › Theo tỉnh", "Tỉnh | Sản lượng An Giang | 4,1 triệu tấn Kiên Giang | 4,3 triệu tấn") in sections
    assert all(p.page is None for p in passages)


def test_an_html_page_loses_its_boilerplate_and_scripts_but_keeps_escaped_text(tmp_path):
    document = read_one(tmp_path, "news.html", NEWS_HTML)
    assert document.kind == "html" and document.title == "The new lighthouse"
    for boilerplate in ("Sport", "Subscribe", "Most read", "Copyright", "tracker", "pwned", "color: red"):
        assert boilerplate not in document.text, boilerplate
    passages = passages_of(document)
    assert [(p.section, p.text) for p in passages] == [
        (None, "The town of Oskarsund opened its new lighthouse on 3 May."),
        ("Its lamp", "The lamp can be seen from 32 kilometres away."),
        ("Its lamp", "A plaque reads: <script>alert(1)</script> as a joke."),
        ("Its lamp", "Year | Keeper 1901 | Ada Lind"),  # a table is one passage, however its cells nest
    ]


def test_markdown_headings_give_a_section_path(tmp_path):
    text = "# Guide\n\n## Install\n\nRun the installer.\n\n### On Linux\n\nUse the package.\n\n## Use\n\nAsk away.\n"
    passages = passages_of(read_one(tmp_path, "guide.md", text.encode()))
    assert [(p.section, p.text) for p in passages] == [
        ("Install", "Run the installer."), ("Install › On Linux", "Use the package."), ("Use", "Ask away.")]


def encrypted_pdf(plain: bytes) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(plain)))
    writer.encrypt("secret")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_unreadable_files_are_skipped_with_their_name_and_why_and_the_rest_is_indexed(history_pdf, tmp_path):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    blank_pdf = print_pdf("<!doctype html><html><body><div style='height:50px;background:#333'></div>"
                          "</body></html>", tmp_path)
    files = {"good.md": b"# Notes\n\nThe lighthouse has 12 lamps.\n", "scan.pdf": blank_pdf,
             "broken.docx": b"PK\x03\x04 not really a zip", "fake.pdf": b"%PDF-1.7 garbage",
             "zip.docx": _zip_without_document(), "binary.txt": bytes(range(256)),
             "locked.pdf": encrypted_pdf(history_pdf)}
    for name, data in files.items():
        (seeds / name).write_bytes(data)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        documents = qa.read_documents(seeds)
    messages = [str(w.message) for w in caught if issubclass(w.category, qa.SkippedDocumentWarning)]
    assert [d.name for d in documents] == ["good.md"]
    assert len(messages) == len(files) - 1
    reasons = {name: next(m for m in messages if m.startswith(f"Skipping {name}:")) for name in files
               if name != "good.md"}
    assert "no text layer" in reasons["scan.pdf"]
    assert "not a readable Word document" in reasons["broken.docx"]
    assert "not a readable PDF" in reasons["fake.pdf"]
    assert "not valid UTF-8" in reasons["binary.txt"]
    assert "encrypted" in reasons["locked.pdf"]


def _zip_without_document() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "not a Word document")
    return buffer.getvalue()


def test_an_unsupported_suffix_is_refused_by_name():
    with pytest.raises(UnreadableDocumentError, match="not a supported format"):
        extract("notes.rtf", b"{\\rtf1}")
