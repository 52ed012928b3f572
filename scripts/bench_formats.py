"""Reading real-world-like documents of every format, and the time from upload to answerable for a long PDF.

    .venv/bin/python scripts/bench_formats.py [--runs 5]
    make bench-formats

The documents are made here from the dev benchmark's Vietnamese articles (../shared/benchmarks/xquad-dev): one
long PDF printed by headless Chromium (an article a chapter, headings, ~50 pages), the same text as a Word file
(headings and a table per article) and as an HTML page inside navigation, sidebar and script boilerplate, and as
Markdown. For each: extraction time (median of --runs) bare and through `qa.documents.parsing`'s worker pool (the
bounded path indexing and uploads take; the ratio is the workers' cost), characters, pages, headings, passages
and sample section paths. Then the PDF goes the chat's upload path (`qa.BackgroundIndexer.add` with the chat's
loaded model, `qa.Engine` picking up the new version) into an index of the seed, and the clock runs until a
question about its last article is answered citing the PDF. Writes eval-out/bench-formats/report.json.
"""

from __future__ import annotations

import argparse
import html
import io
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import qa  # noqa: E402
from qa.documents.formats import extract  # noqa: E402
from qa.documents.parsing import BoundedParser  # noqa: E402
from benchkit.timing import markdown_table, ratio, timed, write_report  # noqa: E402 — beside this file

DEV = ROOT.parent / "shared" / "benchmarks" / "xquad-dev" / "xquad-dev.vi.json"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def articles() -> list[tuple[str, list[str]]]:
    data = json.loads(DEV.read_text(encoding="utf-8"))["data"]
    return [(a["title"].replace("_", " "), [p["context"] for p in a["paragraphs"]]) for a in data]


def make_html(parts: list[tuple[str, list[str]]], boilerplate: bool) -> str:
    body = []
    for number, (title, paragraphs) in enumerate(parts, start=1):
        body.append(f"<h2>Chương {number}. {html.escape(title)}</h2>")
        for i, paragraph in enumerate(paragraphs):
            if i == 2:
                body.append(f"<h3>{html.escape(title)}: chi tiết</h3>")
            body.append(f"<p>{html.escape(paragraph)}</p>")
    main = f"<h1>Tuyển tập bài viết</h1>{''.join(body)}"
    if not boilerplate:
        return f'<!doctype html><html lang="vi"><head><meta charset="utf-8"><style>body{{font:14pt/1.7 serif;margin:2.5cm}}' \
               f'h1{{font-size:26pt}}h2{{font-size:19pt}}h3{{font-size:16pt}}</style></head><body>{main}</body></html>'
    nav = "".join(f'<li><a href="/a/{i}">Mục {i}</a></li>' for i in range(40))
    return (f'<!doctype html><html lang="vi"><head><meta charset="utf-8"><title>Tuyển tập bài viết</title>'
            f'<script>window.analytics = {{}};</script></head><body><header><nav><ul>{nav}</ul></nav>'
            f'<form><input name="q"><button>Tìm</button></form></header><main><article>{main}</article></main>'
            f'<aside>Bài đọc nhiều: {nav}</aside><footer>© 2026 Trang mẫu</footer>'
            f'<script>document.write("quảng cáo")</script></body></html>')


def make_docx(parts: list[tuple[str, list[str]]]) -> bytes:
    import docx

    document = docx.Document()
    document.add_heading("Tuyển tập bài viết", level=0)
    for number, (title, paragraphs) in enumerate(parts, start=1):
        document.add_heading(f"Chương {number}. {title}", level=1)
        for i, paragraph in enumerate(paragraphs):
            if i == 2:
                document.add_heading(f"{title}: chi tiết", level=2)
            document.add_paragraph(paragraph)
        table = document.add_table(rows=2, cols=2)
        table.rows[0].cells[0].text, table.rows[0].cells[1].text = "Chương", "Số đoạn"
        table.rows[1].cells[0].text, table.rows[1].cells[1].text = str(number), str(len(paragraphs))
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def make_markdown(parts: list[tuple[str, list[str]]]) -> bytes:
    lines = ["# Tuyển tập bài viết", ""]
    for number, (title, paragraphs) in enumerate(parts, start=1):
        lines += [f"## Chương {number}. {title}", ""]
        for i, paragraph in enumerate(paragraphs):
            if i == 2:
                lines += [f"### {title}: chi tiết", ""]
            lines += [paragraph, ""]
    return "\n".join(lines).encode("utf-8")


def print_pdf(page: str, folder: Path) -> bytes:
    source, target = folder / "book.html", folder / "book.pdf"
    source.write_text(page, encoding="utf-8")
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
                    f"--print-to-pdf={target}", source.as_uri()], check=True, capture_output=True, timeout=300)
    return target.read_bytes()


def describe(name: str, raw: bytes, runs: int, parser: BoundedParser) -> dict:
    """Extraction timed bare (in this process) and bounded (a worker process of a warm pool, as indexing and
    uploads read files), the runs interleaved so drift hits both alike."""
    times, bounded = [], []
    for _ in range(runs):
        extracted, seconds = timed(lambda: extract(name, raw))
        times.append(seconds)
        same, seconds = timed(lambda: parser.parse(name, raw) == extracted)
        assert same
        bounded.append(seconds)
    document = qa.documents.reading.make_document(name, extracted)
    passages = qa.split_document(document)
    sections = list(dict.fromkeys(p.section for p in passages if p.section))
    bare_s, bounded_s = statistics.median(times), statistics.median(bounded)
    return {"file": name, "bytes": len(raw), "extract_ms": round(1000 * bare_s, 1),
            "bounded_ms": round(1000 * bounded_s, 1), "bounded_over_bare": ratio(bounded_s, bare_s, 3),
            "characters": len(document.text), "pages": len(document.page_starts) or None,
            "headings": document.text.count("\n#") + document.text.startswith("#"), "passages": len(passages),
            "sections": len(sections), "sample_sections": sections[:2] + sections[-1:], "title": document.title}


def upload_to_answerable(pdf: bytes, parts: list[tuple[str, list[str]]], folder: Path) -> dict:
    """The chat's path: seed index, engine loaded, then add the PDF and re-index in the background."""
    seeds, index = folder / "seeds", folder / "index"
    shutil.copytree(ROOT / "seeds", seeds)
    qa.build_index(seeds, index)
    engine = qa.Engine.open(index, recheck_seconds=0.2)
    engine.preload().join()
    dataset = json.loads(DEV.read_text(encoding="utf-8"))["data"]
    question = dataset[len(parts) - 1]["paragraphs"][-1]["qas"][0]
    upload = folder / "upload.pdf"
    upload.write_bytes(pdf)
    indexer = qa.BackgroundIndexer(seeds, index, embedder=engine.loaded_embedder)
    started = time.perf_counter()
    indexer.add([upload], ["Tuyển tập.pdf"])  # as the chat's upload does: checked and indexed in the background
    answer = None
    while time.perf_counter() - started < 900:  # answerable: the PDF's passages are searched
        answer = engine.ask(question["question"], k=5)
        if any(h.citation.document == "Tuyển tập.pdf" for h in answer.hits):
            break
        time.sleep(0.5)
    seconds = time.perf_counter() - started
    indexer.wait(600)
    cited = [c for c in answer.citations if c.document == "Tuyển tập.pdf"] if answer else []
    top = answer.hits[0].citation if answer and answer.hits else None
    return {"seconds_upload_to_answerable": round(seconds, 1), "indexing": indexer.status().message,
            "question": question["question"], "gold": question["answers"][0]["text"],
            "answered": bool(answer and answer.answered), "answer": answer.answer if answer else None,
            "top_hit": f"{top.document} p. {top.page} › {top.section}" if top else None,
            "cited_page": cited[0].page if cited else None,
            "holds_gold": bool(answer and question["answers"][0]["text"] in answer.answer)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    parts = articles()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-formats-") as scratch:
        folder = Path(scratch)
        pdf = print_pdf(make_html(parts, boilerplate=False), folder)
        files = {"book.pdf": pdf, "book.docx": make_docx(parts),
                 "page.html": make_html(parts, boilerplate=True).encode("utf-8"), "book.md": make_markdown(parts)}
        with BoundedParser() as parser:
            parser.parse("warm.html", b"<p>warm</p>")  # the pool's start is paid once per build, not per file
            for name, raw in files.items():
                rows.append(describe(name, raw, args.runs, parser))
                print(json.dumps(rows[-1], ensure_ascii=False), flush=True)
        upload = upload_to_answerable(pdf, parts, folder)
        print(json.dumps(upload, ensure_ascii=False), flush=True)
    write_report(ROOT / "eval-out" / "bench-formats", {"formats": rows, "upload": upload})
    print("\n".join(table(rows)))


def table(rows: list[dict]) -> list[str]:
    """One row a file: its extraction times, bare and bounded, and what was read from it."""
    return markdown_table(
        ("file", "size", "extraction, bare (median)", "bounded, in a worker", "ratio", "characters", "pages",
         "headings", "passages"),
        [(row["file"], f"{row['bytes'] / 1024:.0f} KiB", f"{row['extract_ms']} ms", f"{row['bounded_ms']} ms",
          f"{row['bounded_over_bare']:.2f}", f"{row['characters']:,}", row["pages"] or "–", row["headings"],
          row["passages"]) for row in rows])


if __name__ == "__main__":
    main()
