"""Stage 2: split documents into passages: whole paragraphs, or overlapping sentence windows when a paragraph is
longer than the model reads (a PDF page with no blank lines, a wall of text).

Measured on the xquad-dev benchmark (README, "How retrieval works"): whole paragraphs beat 120-word cuts by 4 points
of top-1 for Vietnamese questions and 6 for English ones, because a paragraph keeps the context a sentence needs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import qa.documents.reading
import qa.documents.formats
import qa.text
from qa.documents.reading import document_blocks, heading_level, heading_text
from qa.records import Document, Passage, Sentence
from qa.text import clean_text, find_references, heading_lines, sentence_spans


_SPLITTING_CODE = (__file__, qa.documents.reading.__file__, qa.documents.formats.__file__, qa.text.__file__)


@dataclass(frozen=True)
class ChunkingSettings:
    """How documents become passages; part of the index manifest, so changing it makes an index stale."""

    # Longer paragraphs become windows of whole sentences. 300 words is ~370 e5 tokens of Vietnamese (1.22 tokens a
    # word on xquad-dev) or English, inside the 512 the default model reads, with room for the "passage: " prompt.
    max_words: int = 300
    overlap_sentences: int = 1  # sentences a window repeats from the one before, so no fact loses its context

    def fingerprint(self) -> str:
        """Changes with these settings and with the splitting code itself, so an index built by other rules is
        stale (its vectors are still reused where the embedded text is unchanged: see qa.indexing.index)."""
        digest = hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode())
        for module in _SPLITTING_CODE:
            digest.update(Path(module).read_bytes())
        return digest.hexdigest()[:16]


def split_document(document: Document, settings: ChunkingSettings = ChunkingSettings()) -> list[Passage]:
    """The document's passages in reading order, each knowing its section, paragraph and source span."""
    text = document.text
    passages: list[Passage] = []
    headings: list[tuple[int, str]] = []  # the open headings, outermost first: (level, text)
    paragraph = 0
    marked = document.kind != "text"  # PDF, Word, HTML: their own markup names the sections
    for block in document_blocks(text, marked_headings=marked):
        if block.kind == "heading":
            level = heading_level(text[block.start:block.end])
            headings = [h for h in headings if h[0] < level] + [(level, heading_text(text[block.start:block.end]))]
            continue
        own = [] if marked else own_headings(text, block.start, block.end)
        section = " › ".join([heading for _, heading in headings] + own) or None
        paragraph += 1
        spans = sentence_spans(text, block.start, block.end)
        windows = sentence_windows(text, spans, settings.max_words, settings.overlap_sentences)
        for part, group in enumerate(windows, start=1):
            start, end = group[0][0], group[-1][1]
            sentences = tuple(Sentence(clean_text(text[s:e]), s, e) for s, e in group)
            passages.append(Passage(
                id=f"{document.name}#{paragraph}.{part}",  # the whole name: notes.txt and notes.md differ
                document=document.name,
                title=document.title,
                section=section,
                paragraph=paragraph,
                start=start,
                end=end,
                text=clean_text(text[start:end]),
                sentences=tuple(s for s in sentences if s.text),
                references=tuple(find_references(text[start:end])),
                language=document.language,
                page=document.page_at(start),
            ))
    return [p for p in passages if p.text]


def own_headings(text: str, start: int, end: int) -> list[str]:
    """The heading lines a paragraph starts with ("Điều 2. Thời gian mở cửa" on the line above its text, no blank
    line between): they name this paragraph's section, and stay in its text as sentences of their own."""
    names = []
    for line_start, line_end in heading_lines(text, start, end):
        if text[start:line_start].strip():
            break
        names.append(text[line_start:line_end])
        start = line_end
    return names


def sentence_windows(text: str, spans: list[tuple[int, int]], max_words: int,
                     overlap: int = 0) -> list[list[tuple[int, int]]]:
    """Consecutive sentences packed into windows of at most `max_words` words (a longer sentence stands alone);
    each window after the first starts `overlap` sentences before the previous one ended. A paragraph that fits
    is one window."""
    counts = [len(text[s:e].split()) for s, e in spans]
    windows: list[list[tuple[int, int]]] = []
    first = 0
    while first < len(spans):
        last, total = first, counts[first]
        while last + 1 < len(spans) and total + counts[last + 1] <= max_words:
            last += 1
            total += counts[last]
        windows.append(spans[first:last + 1])
        if last + 1 >= len(spans):
            break
        first = max(last + 1 - overlap, first + 1)
    return windows


def split_documents(documents: list[Document], settings: ChunkingSettings = ChunkingSettings()) -> list[Passage]:
    return [p for d in documents for p in split_document(d, settings)]
