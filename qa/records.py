"""The records that flow through the pipeline: documents → passages → hits.

Plain frozen dataclasses so they are cheap, hashable, and serialise with `dataclasses.asdict`.
Character offsets always point into `Document.text` exactly as read from disk, so
`document.text[start:end]` is the source of any span.
"""

from __future__ import annotations

import bisect
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Document:
    name: str  # file name relative to the seeds folder, the document's identity in citations
    text: str  # exactly as read, so citation spans stay valid
    title: str
    language: str  # "vi" or "en", detected from the text
    sha256: str  # of the file's bytes
    kind: str = "text"  # the format it was read from: "text", "pdf", "docx" or "html"
    page_starts: tuple[int, ...] = ()  # offset in `text` where page 1, 2, … starts (PDFs); empty otherwise

    def page_at(self, offset: int) -> int | None:
        """The 1-based page that `offset` of the text lies on, or None for a document without pages."""
        return bisect.bisect_right(self.page_starts, offset) or None if self.page_starts else None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Document":
        return cls(**{**data, "page_starts": tuple(data.get("page_starts", ()))})


@dataclass(frozen=True)
class Sentence:
    text: str  # cleaned: reference markers removed, white space folded
    start: int
    end: int


@dataclass(frozen=True)
class Passage:
    id: str
    document: str
    title: str
    section: str | None
    paragraph: int  # 1-based number of the paragraph in its document (title and headings not counted)
    start: int
    end: int
    text: str  # cleaned text, what is embedded and shown
    sentences: tuple[Sentence, ...]
    references: tuple[str, ...] = ()  # reference markers found in the source, e.g. ("15", "16")
    language: str = "vi"
    page: int | None = None  # the page it starts on, for documents with pages (PDF)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Passage":
        values = dict(data)
        values["sentences"] = tuple(Sentence(**s) for s in values["sentences"])
        values["references"] = tuple(values.get("references", ()))
        return cls(**values)


@dataclass(frozen=True)
class Citation:
    document: str
    title: str
    section: str | None  # the heading path, "Heading › Subheading"
    paragraph: int
    start: int
    end: int
    page: int | None = None  # PDFs: the page the passage starts on

    @classmethod
    def of(cls, passage: Passage) -> "Citation":
        return cls(passage.document, passage.title, passage.section, passage.paragraph, passage.start, passage.end,
                   passage.page)


@dataclass(frozen=True)
class Scores:
    """The parts a hit's score is made of, shown to people who evaluate retrieval."""

    dense: float  # cosine of question and passage
    sentence: float  # cosine of question and the passage's best sentence
    lexical: float  # BM25 on the index's lexical scale: a share of what the question can score (about 0..1)
    lexical_weight: float  # how much BM25 counted for this question


@dataclass(frozen=True)
class Hit:
    rank: int
    score: float
    passage_id: str
    text: str
    citation: Citation
    scores: Scores
    best_sentence: int  # index into passage.sentences of the sentence that matched best
    passage: Passage = field(repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "score": round(self.score, 6),
            "passage_id": self.passage_id,
            "text": self.text,
            "citation": asdict(self.citation),
            "scores": {k: round(v, 6) for k, v in asdict(self.scores).items()},
            "best_sentence": self.best_sentence,
        }


@dataclass(frozen=True)
class SearchResult:
    query: str
    language: str
    hits: list[Hit]
    query_vector: Any = field(default=None, repr=False, compare=False)  # kept so answers can score sentences
    index_version: str = ""  # the index version every hit comes from (a rebuild publishes a new one)

    def to_dict(self) -> dict[str, Any]:
        return {"query": self.query, "language": self.language, "index_version": self.index_version,
                "hits": [h.to_dict() for h in self.hits]}
