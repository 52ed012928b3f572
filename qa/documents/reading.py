"""Stage 1: read the seeds folder into `Document`s and find their structure (title, headings, paragraphs)."""

from __future__ import annotations

import hashlib
import re
import unicodedata
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from qa.errors import SeedsNotFoundError, SeedUnreadableError
from qa.documents.formats import DEFAULT_LIMITS, SUFFIXES, Extracted, ParseLimits, UnreadableDocumentError
from qa.language import detect_language
from qa.records import Document
from qa.text import is_heading_line, iter_paragraph_blocks, trim_span

DOCUMENT_SUFFIXES = SUFFIXES
_MAX_TITLE_CHARS = 200


class SkippedDocumentWarning(UserWarning):
    """A seed file was skipped (not UTF-8, empty, an encrypted or scanned PDF, a corrupt Word file…); the message
    names it and says why."""


@dataclass(frozen=True)
class Block:
    kind: str  # "heading" or "paragraph"
    start: int
    end: int


def seed_files(seeds_dir: Path) -> list[Path]:
    """The document files of a seeds folder, in a stable order."""
    seeds_dir = Path(seeds_dir)
    if not seeds_dir.is_dir():
        raise SeedsNotFoundError(f"Seeds folder not found: {seeds_dir}. Put documents there "
                                 f"({', '.join(DOCUMENT_SUFFIXES)}).")
    return sorted(p for p in seeds_dir.rglob("*") if p.is_file() and p.suffix.lower() in DOCUMENT_SUFFIXES)


def read_seed(path: Path) -> bytes:
    """A seed file's bytes; a file that exists but cannot be read is the user's to fix, so it stops the build
    (skipping it would silently drop a document the index had before)."""
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise SeedUnreadableError(f"Cannot read {path}: {error.strerror or error}. Fix its permissions, or move it "
                                  "out of the seeds folder.") from error


def read_documents(seeds_dir: Path, limits: ParseLimits = DEFAULT_LIMITS) -> list[Document]:
    """Every readable document; unreadable or empty files, and files over one of the `limits` (time included:
    they are parsed in worker processes, `qa.documents.parsing`), are skipped with a `SkippedDocumentWarning`."""
    return read_seeds(seeds_dir, limits)[0]


def read_seeds(seeds_dir: Path, limits: ParseLimits = DEFAULT_LIMITS) -> tuple[list[Document], dict[str, str]]:
    """`read_documents`, plus the SHA-256 of every seed file, skipped ones included, by relative name. Each file is
    read once: a build records the hashes of exactly the bytes its documents came from, even while a file is
    being rewritten."""
    from qa.documents.parsing import BoundedParser

    seeds_dir = Path(seeds_dir)
    documents: list[Document] = []
    hashes: dict[str, str] = {}

    def files() -> Iterator[tuple[str, bytes]]:
        for path in seed_files(seeds_dir):
            name, raw = path.relative_to(seeds_dir).as_posix(), read_seed(path)
            hashes[name] = hashlib.sha256(raw).hexdigest()
            yield name, raw

    with BoundedParser(limits) as parser:
        for name, raw, extracted in parser.parse_all(files()):
            if isinstance(extracted, UnreadableDocumentError):
                warnings.warn(f"Skipping {name}: {extracted}", SkippedDocumentWarning, stacklevel=3)
            elif not extracted.text.strip():
                warnings.warn(f"Skipping {name}: the file is empty", SkippedDocumentWarning, stacklevel=3)
            else:
                documents.append(make_document(name, extracted, hashes[name]))
    return documents, hashes


def make_document(name: str, source: str | Extracted, sha256: str = "") -> Document:
    """A document from its text (or a reader's output: text, title and pages)."""
    extracted = source if isinstance(source, Extracted) else Extracted(source.removeprefix("\ufeff"), "text")
    text, page_starts = composed(extracted.text, extracted.page_starts)
    return Document(name=name, text=text, title=document_title(name, text, extracted.title),
                    language=detect_language(text[:5000]),
                    sha256=sha256 or hashlib.sha256(text.encode("utf-8")).hexdigest(),
                    kind=extracted.kind, page_starts=page_starts)


def composed(text: str, page_starts: tuple[int, ...] = ()) -> tuple[str, tuple[int, ...]]:
    """The text in Unicode NFC (as questions are), page by page so page offsets stay right: a file saved
    decomposed (NFD: "tuổi" as "tuô" + a combining hook) reads like any other."""
    if unicodedata.is_normalized("NFC", text):
        return text, tuple(page_starts)
    bounds = [*page_starts, len(text)]
    head = unicodedata.normalize("NFC", text[:bounds[0]]) if page_starts else ""
    pages = [unicodedata.normalize("NFC", text[a:b]) for a, b in zip(bounds, bounds[1:])] if page_starts else []
    if not page_starts:
        return unicodedata.normalize("NFC", text), ()
    starts, at = [], len(head)
    for page in pages:
        starts.append(at)
        at += len(page)
    return head + "".join(pages), tuple(starts)


def document_title(name: str, text: str, named: str | None = None) -> str:
    """The first line when it reads as a title, else the title the file names (PDF or Word metadata, HTML
    <title>), else the file name; Wikipedia's `_` shown as spaces."""
    first_line = text.lstrip().split("\n", 1)[0].strip()
    if first_line and len(first_line) <= _MAX_TITLE_CHARS and not first_line.endswith("."):
        return first_line.lstrip("#").strip().replace("_", " ")
    if named and len(named) <= _MAX_TITLE_CHARS:
        return named
    return Path(name).stem.replace("_", " ")


def document_blocks(text: str, marked_headings: bool = False) -> list[Block]:
    """Headings and paragraphs after the title line, in order; spans point into `text`. With `marked_headings`
    (text assembled from a format that marks its headings: PDF, Word, HTML) only `#` lines are headings, so a
    short table row or caption is not taken for one."""
    blocks = list(iter_paragraph_blocks(text))
    if not blocks:
        return []
    first_start, first_end = blocks[0]
    first_line_end = text.find("\n", first_start, first_end)
    if first_line_end == -1:
        blocks = blocks[1:]  # the title stands alone
    else:  # the title line sits on top of the first paragraph
        rest_start = first_line_end + 1
        while rest_start < first_end and text[rest_start].isspace():
            rest_start += 1
        blocks[0] = (rest_start, first_end)
    if not looks_like_title(text[first_start:first_line_end if first_line_end != -1 else first_end]):
        blocks.insert(0, (first_start, first_end))
    if not marked_headings:  # in a user's Markdown a `#` line is a heading with or without a blank line after it
        blocks = [part for start, end in blocks for part in split_at_headings(text, start, end)]
    heading = is_marked_heading if marked_headings else is_heading
    return [Block("heading" if heading(text[s:e]) else "paragraph", s, e) for s, e in blocks]


_ATX_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+\S[^\n]*$", re.MULTILINE)


def split_at_headings(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """The block `text[start:end]` cut at its Markdown heading lines (`## Section`, as CommonMark reads them: up to
    3 spaces, 1-6 `#`, a space), each heading a block of its own; the spans are trimmed of white space."""
    parts, at = [], start
    for match in _ATX_HEADING.finditer(text, start, end):
        parts += [(at, match.start()), (match.start(), match.end())]
        at = match.end()
    parts.append((at, end))
    trimmed = [trim_span(text, a, b) for a, b in parts]
    return [(a, b) for a, b in trimmed if a < b]


def looks_like_title(line: str) -> bool:
    return len(line) <= _MAX_TITLE_CHARS and not line.rstrip().endswith(".")


def is_marked_heading(block: str) -> bool:
    """A Markdown heading: one line starting with `#`."""
    block = block.strip()
    return block.startswith("#") and "\n" not in block


def is_heading(block: str) -> bool:
    """A short single line without final punctuation, or a Markdown heading."""
    block = block.strip()
    if block.startswith("#"):
        return is_marked_heading(block)
    return is_heading_line(block)


def heading_text(block: str) -> str:
    return block.strip().lstrip("#").strip()


def heading_level(block: str) -> int:
    """A Markdown heading's level (the number of `#`), 1 for a heading found by its shape."""
    block = block.strip()
    return min(len(block) - len(block.lstrip("#")), 6) or 1
