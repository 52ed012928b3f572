"""Hostile files, made here (never copied): a Word zip bomb, a Word paragraph flood, deeply nested HTML and a
long Vietnamese file name. The tests and `scripts/bench_hostile.py` both make their fixtures with these."""

from __future__ import annotations

import io
import zipfile

_W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'


def _base_docx() -> bytes:
    import docx

    out = io.BytesIO()
    docx.Document().save(out)
    return out.getvalue()


def _with_body(chunks, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A real Word file (python-docx's template) whose document body is written from `chunks` (streamed, so a
    huge body never sits in memory here)."""
    source = zipfile.ZipFile(io.BytesIO(_base_docx()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression, compresslevel=9) as target:
        for member in source.infolist():
            if member.filename != "word/document.xml":
                target.writestr(member, source.read(member))
                continue
            with target.open("word/document.xml", "w", force_zip64=True) as body:
                body.write(f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document {_W}><w:body>'
                           .encode())
                for chunk in chunks:
                    body.write(chunk)
                body.write(b"</w:body></w:document>")
    return out.getvalue()


def docx_bomb(unpacked_bytes: int = 196 * 1024 * 1024) -> bytes:
    """A Word file of about 0.5 MB that unzips to `unpacked_bytes`: one paragraph style repeated (text that
    compresses a thousandfold)."""
    paragraph = b'<w:p><w:r><w:t>' + b"a" * 4000 + b"</w:t></w:r></w:p>"
    block = paragraph * 256
    return _with_body(block for _ in range(max(1, unpacked_bytes // len(block))))


def docx_paragraph_flood(paragraphs: int = 80_000) -> bytes:
    """A small Word file of `paragraphs` empty paragraphs, each naming a style (the per-paragraph style lookup
    made this cost minutes)."""
    empty = b'<w:p><w:pPr><w:pStyle w:val="Normal"/></w:pPr></w:p>'
    return _with_body(empty * 1000 for _ in range(paragraphs // 1000))


def nested_html(depth: int = 23_000) -> bytes:
    """About 260 KB of `<div>`s nested `depth` deep around one sentence (quadratic for a per-element
    ancestor walk)."""
    return (b"<!doctype html><html><body>" + b"<div>" * depth + "Một câu ở tận cùng.".encode() + b"</div>" * depth
            + b"</body></html>")


def long_vietnamese_name(characters: int = 140, suffix: str = ".txt") -> str:
    """A file name of `characters` Vietnamese letters: about three UTF-8 bytes each, over the 255-byte limit of
    most file systems."""
    letters = "ệựềữờậầồễổấắẩẫẻẽếểỉịọỏốộớởỡụủứừửữỳỷỹỵ"  # three UTF-8 bytes each
    return "".join(letters[i % len(letters)] for i in range(characters)) + suffix
