"""Stage 2: split documents into passages (paragraphs, cut at sentence boundaries when too long)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import PurePosixPath

from qa.documents import document_blocks, heading_text
from qa.records import Document, Passage, Sentence
from qa.text import clean_text, find_references, sentence_spans


@dataclass(frozen=True)
class ChunkingSettings:
    """How documents become passages; part of the index manifest, so changing it makes an index stale."""

    max_words: int = 120  # longer paragraphs are cut at sentence boundaries (~170 e5 tokens of Vietnamese)
    version: int = 1  # bump when the splitting rules themselves change

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]


def split_document(document: Document, settings: ChunkingSettings = ChunkingSettings()) -> list[Passage]:
    """The document's passages in reading order, each knowing its section, paragraph and source span."""
    text = document.text
    stem = PurePosixPath(document.name).with_suffix("").as_posix()
    passages: list[Passage] = []
    section: str | None = None
    paragraph = 0
    for block in document_blocks(text):
        if block.kind == "heading":
            section = heading_text(text[block.start:block.end])
            continue
        paragraph += 1
        spans = sentence_spans(text, block.start, block.end)
        for part, group in enumerate(group_sentences(text, spans, settings.max_words), start=1):
            start, end = group[0][0], group[-1][1]
            sentences = tuple(Sentence(clean_text(text[s:e]), s, e) for s, e in group)
            passages.append(Passage(
                id=f"{stem}#{paragraph}.{part}",
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
            ))
    return [p for p in passages if p.text]


def group_sentences(text: str, spans: list[tuple[int, int]], max_words: int) -> list[list[tuple[int, int]]]:
    """Pack consecutive sentences into groups of at most `max_words` words (a longer sentence stands alone)."""
    groups: list[list[tuple[int, int]]] = []
    current: list[tuple[int, int]] = []
    current_words = 0
    for span in spans:
        n_words = len(text[span[0]:span[1]].split())
        if current and current_words + n_words > max_words:
            groups.append(current)
            current, current_words = [], 0
        current.append(span)
        current_words += n_words
    if current:
        groups.append(current)
    return groups


def split_documents(documents: list[Document], settings: ChunkingSettings = ChunkingSettings()) -> list[Passage]:
    return [p for d in documents for p in split_document(d, settings)]
