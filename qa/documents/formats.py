"""Stage 1a: turn a file of any supported format into one plain text with its structure marked.

Every reader yields `Block`s (a heading with its level, or a paragraph, each on a page for PDFs), and `assemble`
writes them as one text: headings as Markdown `#` lines, paragraphs separated by blank lines, pages one after the
other. That text is what the index stores and what every citation's `start:end` points into, so a quote is
always `document.text[start:end]` whatever the source format was; `pages` records where each page starts.

Why these libraries (all MIT-compatible): pypdfium2 (PDFium, Chrome's PDF engine; BSD/Apache) extracts
Vietnamese text with its diacritics intact and fast, and gives each character's font size, from which headings
are found; python-docx (MIT) reads headings by their style and tables in body order; Beautiful Soup (MIT) parses
any HTML, however broken, with Python's own parser.

Every reader works under `ParseLimits` (unpacked size, text length, elements, pages) and raises
`LimitExceededError` past one; `qa.documents.parsing` adds the wall-time limit by running them in worker processes.
"""

from __future__ import annotations

import io
import re
import statistics
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

TEXT_SUFFIXES = (".txt", ".md", ".markdown")
SUFFIXES = (*TEXT_SUFFIXES, ".pdf", ".docx", ".html", ".htm")
MAX_HEADING_CHARS = 120
_FINAL = tuple('.!?:;…,"”’)')


class UnreadableDocumentError(ValueError):
    """The file is of a supported type but holds no text that can be read; the message says why."""


class LimitExceededError(UnreadableDocumentError):
    """The file is over one of the `ParseLimits` (`limit` names which): read no further, skipped like any
    unreadable file."""

    def __init__(self, message: str, limit: str) -> None:
        super().__init__(message)
        self.limit = limit

    def __reduce__(self):  # it crosses from a worker process: pickle both arguments
        return type(self), (str(self), self.limit)


@dataclass(frozen=True)
class ParseLimits:
    """What one file may cost to read. The defaults pass a 1,000-page book or a 100 MB Word file with images and
    stop a zip bomb, an element flood or a parser caught in a loop in seconds."""

    unpacked_bytes: int = 128 * 1024 * 1024  # a Word file's parts once unzipped (the file itself is capped apart)
    chars: int = 20_000_000  # the text read (about 8,000 pages)
    elements: int = 200_000  # paragraphs, tables or tags examined
    pages: int = 5_000
    seconds: float = 120.0  # wall time, enforced by `qa.documents.parsing` (a worker over it is killed)

    def check(self, what: str, value: int) -> None:
        """Raise `LimitExceededError` when `value` is over the limit named `what`."""
        limit = getattr(self, what)
        if value > limit:
            raise LimitExceededError(f"it is over the limit on {_LIMIT_NAMES[what]} ({value:,} > {limit:,})", what)


_LIMIT_NAMES = {"unpacked_bytes": "unpacked size in bytes", "chars": "text length in characters",
                "elements": "elements (paragraphs, tables or tags)", "pages": "pages", "seconds": "reading time"}
DEFAULT_LIMITS = ParseLimits()


@dataclass(frozen=True)
class Block:
    text: str
    level: int = 0  # 0: a paragraph; 1-6: a heading of that level
    page: int | None = None  # 1-based, for paged formats


@dataclass(frozen=True)
class Extracted:
    """A file's text as stored, its title when the format names one, and where each page starts."""

    text: str
    kind: str  # "text", "pdf", "docx" or "html"
    title: str | None = None
    page_starts: tuple[int, ...] = ()  # offset of page 1, 2, …; empty when the format has no pages


def suffix_of(name: str) -> str:
    return "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""


def extract(name: str, raw: bytes, limits: ParseLimits = DEFAULT_LIMITS) -> Extracted:
    """The text of `raw`, read by the reader for `name`'s suffix; `UnreadableDocumentError` when there is none,
    `LimitExceededError` past a limit (all but the time limit: see `qa.documents.parsing`)."""
    suffix = suffix_of(name)
    if suffix in TEXT_SUFFIXES:
        return read_plain_text(raw, limits)
    reader = _READERS.get(suffix)
    if reader is None:
        raise UnreadableDocumentError(f"{suffix or 'no suffix'} is not a supported format")
    return reader(raw, limits)


def read_plain_text(raw: bytes, limits: ParseLimits = DEFAULT_LIMITS) -> Extracted:
    """UTF-8 text as it is (a byte-order mark dropped); its structure is found later from its lines."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise UnreadableDocumentError(f"not valid UTF-8 ({error.reason} at byte {error.start})") from None
    limits.check("chars", len(text))
    return Extracted(text.removeprefix("\ufeff"), "text")


def assemble(blocks: Iterable[Block], kind: str, title: str | None = None,
             limits: ParseLimits = DEFAULT_LIMITS) -> Extracted:
    """One text from the blocks: `#` headings, blank lines between blocks, and the start of each page; every
    block counts against `limits.elements` (empty ones too) and the text against `limits.chars`."""
    parts: list[str] = []
    page_starts: list[int] = []
    length = 0
    for count, block in enumerate(blocks, start=1):
        limits.check("elements", count)
        limits.check("chars", length)
        text = " ".join(block.text.split()) if block.level else block.text.strip()
        if not text:
            continue
        if block.page is not None:
            while len(page_starts) < block.page:
                page_starts.append(length + (2 if parts else 0))
        piece = f"{'#' * block.level} {text}" if block.level else text
        if parts:
            parts.append("\n\n")
            length += 2
        parts.append(piece)
        length += len(piece)
    text = "".join(parts)
    if not text.strip():
        raise UnreadableDocumentError("it holds no text")
    return Extracted(text + "\n", kind, title, tuple(min(start, len(text)) for start in page_starts))


# ------------------------------------------------------------------------------------------------------ PDF

def read_pdf(raw: bytes, limits: ParseLimits = DEFAULT_LIMITS) -> Extracted:
    """Each page's lines; a short line without final punctuation is a heading when it is set larger than the
    body text (the median size; the largest size is level 1) or wholly in bold. Lines between headings form one
    paragraph, so a page with no blank lines still becomes passages (long ones become sentence windows later)."""
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(raw)
    except pdfium.PdfiumError as error:
        reason = "it is encrypted (a password is needed)" if "password" in str(error).lower() else \
            f"it is not a readable PDF ({error})"
        raise UnreadableDocumentError(reason) from None
    try:
        limits.check("pages", len(pdf))
        pages = [_pdf_lines(pdf[number]) for number in range(len(pdf))]
        limits.check("chars", sum(len(line) for lines in pages for line, _, _ in lines))
        title = (pdf.get_metadata_dict().get("Title") or "").strip() or None
    finally:
        pdf.close()
    sizes = [size for lines in pages for _, size, _ in lines if size]
    body = statistics.median(sizes) if sizes else 0.0
    # Larger than the body text: a heading level per size, largest first; a bold line at body size comes last.
    heading_sizes = sorted({round(size, 1) for size in sizes if size >= body * 1.1}, reverse=True)[:5]
    blocks: list[Block] = []
    for number, lines in enumerate(pages, start=1):
        paragraph: list[str] = []
        for line, size, bold in lines:
            rounded = round(size, 1)
            level = heading_sizes.index(rounded) + 1 if rounded in heading_sizes else \
                len(heading_sizes) + 1 if bold else 0
            if level and len(line) <= MAX_HEADING_CHARS and not line.endswith(_FINAL):
                if paragraph:
                    blocks.append(Block("\n".join(paragraph), 0, number))
                    paragraph = []
                blocks.append(Block(line, level, number))
            else:
                paragraph.append(line)
        if paragraph:
            blocks.append(Block("\n".join(paragraph), 0, number))
    if not any(block.text.strip() for block in blocks):
        raise UnreadableDocumentError("it has no text layer (a scanned PDF needs OCR first)")
    return assemble(blocks, "pdf", title, limits)


def _pdf_lines(page) -> list[tuple[str, float, bool]]:
    """The page's non-blank lines, each with the font size of its first character (0 when unknown) and whether
    it is set bold from its first to its last character."""
    import pypdfium2.raw as pdfium_c

    textpage = page.get_textpage()
    try:
        text = textpage.get_text_range()
        known = len(text) == textpage.count_chars()  # character i of the text is PDFium's character i
        lines, offset = [], 0
        for line in re.split(r"\r\n|\r|\n", text):
            stripped = line.strip()
            if stripped:
                first = offset + (len(line) - len(line.lstrip()))
                last = first + len(stripped) - 1
                size = float(pdfium_c.FPDFText_GetFontSize(textpage, first)) if known else 0.0
                bold = known and all(pdfium_c.FPDFText_GetFontWeight(textpage, i) >= 600 for i in (first, last))
                lines.append((stripped, size, bold))
            offset += len(line) + (2 if text.startswith("\r\n", offset + len(line)) else 1)
        return lines
    finally:
        textpage.close()


# ----------------------------------------------------------------------------------------------------- DOCX

def read_docx(raw: bytes, limits: ParseLimits = DEFAULT_LIMITS) -> Extracted:
    """Paragraphs and tables in body order; "Title" and "Heading N" styles are headings, a table is one
    paragraph (a row a line, its cells joined by " | "), so its header stays with its rows. The package's
    unpacked size is checked before anything is unzipped (a zip bomb stops here)."""
    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table

    unreadable = (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError)
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as package:
            unpacked = sum(member.file_size for member in package.infolist())
    except unreadable as error:
        raise UnreadableDocumentError(f"it is not a readable Word document ({type(error).__name__})") from None
    limits.check("unpacked_bytes", unpacked)
    try:
        document = docx.Document(io.BytesIO(raw))
    except unreadable as error:
        raise UnreadableDocumentError(f"it is not a readable Word document ({type(error).__name__})") from None
    title = (document.core_properties.title or "").strip() or None
    # Style names by id, once: python-docx's `paragraph.style` searches the style part at every call.
    style_names = {style.style_id: style.name for style in document.styles}
    default = document.styles.default(docx.enum.style.WD_STYLE_TYPE.PARAGRAPH)
    default_name = default.name if default is not None else ""

    def blocks() -> Iterator[Block]:
        for item in document.iter_inner_content():
            if isinstance(item, Table):
                rows = [" | ".join(_unique(" ".join(cell.text.split()) for cell in row.cells)) for row in item.rows]
                yield Block("\n".join(row for row in rows if row.strip(" |")))
                continue
            text = item.text
            if not text.strip():
                yield Block("")  # counted, then dropped
                continue
            style_id = item._p.style  # noqa: SLF001 - the id the public `style` property looks up each time
            yield Block(text, _docx_level(style_names.get(style_id, default_name) if style_id else default_name))

    return assemble(blocks(), "docx", title, limits)


def _docx_level(style: str) -> int:
    if style == "Title":
        return 1
    match = re.fullmatch(r"Heading (\d)", style)
    return min(int(match.group(1)), 6) if match else 0


def _unique(cells: Iterable[str]) -> list[str]:
    """Cells of a row, a merged cell (repeated by python-docx) once."""
    out: list[str] = []
    for cell in cells:
        if not out or cell != out[-1]:
            out.append(cell)
    return out


# ----------------------------------------------------------------------------------------------------- HTML

_DROP = ("script", "style", "noscript", "template", "nav", "header", "footer", "aside", "form", "iframe",
         "svg", "canvas", "button", "select", "object", "embed")
_BLOCKS = ("h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "dt", "dd", "blockquote", "pre", "figcaption",
           "caption", "table", "div", "section", "article", "main", "address")


def read_html(raw: bytes, limits: ParseLimits = DEFAULT_LIMITS) -> Extracted:
    """The page's main content: `<main>` or `<article>` when there is one, else `<body>`, without scripts,
    styles, navigation, headers, footers, asides and forms (a page's boilerplate). h1-h6 are headings; each
    innermost block element (p, li…) is a paragraph, and so is each table (a row a line, cells joined by " | ").

    One pass over the block elements in document order, each looking up only to its nearest block ancestor, so
    deep nesting costs linear time (a `find_parent` or `find` per element was quadratic)."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(raw, "html.parser")
    limits.check("elements", sum(1 for _ in soup.find_all(True)))
    title = soup.title.get_text(" ", strip=True) if soup.title else None
    for tag in soup.find_all(_DROP):
        tag.decompose()
    root = soup.find("main") or soup.find("article") or soup.body or soup
    tags = root.find_all(_BLOCKS)
    outer: set[int] = set()  # blocks holding another block: read through their inner ones
    in_table: set[int] = set()  # blocks inside a table: read with it
    for tag in tags:
        above = _block_ancestor(tag, root)
        if above is not None:
            outer.add(id(above))
            if above.name == "table" or id(above) in in_table:
                in_table.add(id(tag))

    def blocks() -> Iterator[Block]:
        for tag in tags:
            if id(tag) in in_table:
                continue
            if tag.name == "table":
                yield Block("\n".join(row for row in _table_rows(tag) if row))
            elif id(tag) not in outer:
                level = int(tag.name[1]) if re.fullmatch(r"h[1-6]", tag.name) else 0
                yield Block(" ".join(tag.get_text(" ", strip=True).split()), level)

    return assemble(blocks(), "html", title or None, limits)


def _block_ancestor(tag, root):
    """The nearest block element above `tag` below `root` (None when there is none)."""
    parent = tag.parent
    while parent is not None and parent is not root:
        if parent.name in _BLOCKS:
            return parent
        parent = parent.parent
    return None


def _table_rows(table) -> list[str]:
    """A table's own rows (a nested table's rows belong to it), cells joined by " | "."""
    rows = []
    for row in table.find_all("tr"):
        if _nearest(row, "table") is not table:
            continue
        cells = (" ".join(cell.get_text(" ", strip=True).split()) for cell in row.find_all(("td", "th")))
        rows.append(" | ".join(cell for cell in cells if cell))
    return rows


def _nearest(tag, name: str):
    parent = tag.parent
    while parent is not None and parent.name != name:
        parent = parent.parent
    return parent


_READERS: dict[str, Callable[[bytes, ParseLimits], Extracted]] = {
    ".pdf": read_pdf, ".docx": read_docx, ".html": read_html, ".htm": read_html}
