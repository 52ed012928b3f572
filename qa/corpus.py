"""The corpus as its owner manages it: list, add and remove the documents of a seeds folder.

Adding checks each file before it enters the folder (a supported type, within the size limit, text that can be
read), gives it a safe name (no path, no traversal, no hidden or control characters) and writes it atomically,
so a failed or refused upload never leaves a partial file in the seeds. Re-indexing is the caller's next step
(`qa.build_index`), which embeds only what is new or changed.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from qa.documents import seed_files
from qa.errors import DocumentRejectedError, InvalidArgumentError, QAError
from qa.formats import SUFFIXES, UnreadableDocumentError, extract

MAX_DOCUMENT_BYTES = 100 * 1024 * 1024  # a 1,000-page PDF is a few tens of MB


@dataclass(frozen=True)
class DocumentInfo:
    """One document of the corpus as a listing shows it; the indexed figures are None until it is indexed."""

    name: str  # relative to the seeds folder: the document's identity in citations
    kind: str  # the file's suffix without the dot: "pdf", "docx", "html", "md", "txt"
    bytes: int
    modified: str  # ISO 8601, UTC
    title: str | None = None
    pages: int | None = None  # PDFs
    passages: int | None = None
    indexed: bool = False  # the index holds this exact file (same content hash)


def safe_name(filename: str) -> str:
    """A file name that can only land directly in the seeds folder: the last path component, NFC, without
    control or format characters, not hidden; `InvalidArgumentError` when nothing usable is left or the
    type is not supported."""
    base = re.split(r"[\\/]", unicodedata.normalize("NFC", str(filename)))[-1]
    base = "".join(c for c in base if unicodedata.category(c)[0] != "C").strip().lstrip(".").strip()
    stem, dot, suffix = base.rpartition(".")
    if not dot or not stem.strip(" ."):
        raise InvalidArgumentError(f"{filename!r} has no usable file name with a suffix ({', '.join(SUFFIXES)}).")
    if "." + suffix.lower() not in SUFFIXES:
        raise DocumentRejectedError(f"{base}: .{suffix} files are not supported; use one of {', '.join(SUFFIXES)}.")
    return f"{stem.strip()[:150]}.{suffix.lower()}"


def add_documents(seeds_dir: Path | str, files: Iterable[Path | str], *, names: Iterable[str] | None = None,
                  max_bytes: int = MAX_DOCUMENT_BYTES) -> list[str]:
    """Copy `files` into the seeds folder under safe names (`names`: the names to give them, e.g. an upload's
    original names; default: the files' own), replacing a document of the same name. Every file is checked
    first; if any is refused, none is added. Returns the names written."""
    seeds_dir = Path(seeds_dir)
    seeds_dir.mkdir(parents=True, exist_ok=True)
    files = [Path(f) for f in files]
    wanted = list(names) if names is not None else [f.name for f in files]
    if len(wanted) != len(files):
        raise InvalidArgumentError("Give one name for each file.")
    checked: list[tuple[str, bytes]] = []
    for path, wanted_name in zip(files, wanted):
        name = safe_name(wanted_name)
        try:
            size = path.stat().st_size
            if size > max_bytes:
                raise DocumentRejectedError(f"{name}: {size / 1e6:.1f} MB is over the {max_bytes / 1e6:.0f} MB limit.")
            raw = path.read_bytes()
        except OSError as error:
            raise DocumentRejectedError(f"Cannot read {path}: {error.strerror or error}.") from error
        try:
            extract(name, raw)
        except UnreadableDocumentError as error:
            raise DocumentRejectedError(f"{name}: {error}.") from None
        except Exception as error:  # noqa: BLE001 - a parser's failure on a malformed file refuses that file
            raise DocumentRejectedError(f"{name}: it could not be parsed ({type(error).__name__}).") from None
        checked.append((name, raw))
    if len({name for name, _ in checked}) != len(checked):
        raise DocumentRejectedError("Two of the files would get the same name; rename one.")
    for name, raw in checked:
        _write_atomically(seeds_dir / name, raw)
    return [name for name, _ in checked]


def remove_document(seeds_dir: Path | str, name: str) -> Path:
    """Delete the document `name` (as `list_documents` names it) from the seeds folder; only a document of
    that folder can be named. Returns the path removed."""
    seeds_dir = Path(seeds_dir)
    by_name = {path.relative_to(seeds_dir).as_posix(): path for path in seed_files(seeds_dir)}
    path = by_name.get(unicodedata.normalize("NFC", name)) or by_name.get(name)
    if path is None:
        raise InvalidArgumentError(f"No document {name!r} in {seeds_dir}; `qa list` shows the names.")
    path.unlink()
    return path


def list_documents(seeds_dir: Path | str, index_dir: Path | str | None = None) -> list[DocumentInfo]:
    """The seeds folder's documents, with what the index (when there is one) holds of each."""
    from qa.backends import open_store

    seeds_dir = Path(seeds_dir)
    indexed: dict[str, tuple[str, str, int | None, int]] = {}
    if index_dir is not None:
        try:
            store = open_store(index_dir)
        except (QAError, OSError):
            store = None
        if store is not None:
            try:
                counts = store.passages.counts_by_document()
                for name, document in store.documents.items():
                    indexed[name] = (document.sha256, document.title, len(document.page_starts) or None,
                                     counts.get(name, 0))
            finally:
                store.close()
    infos = []
    for path in seed_files(seeds_dir):
        name = path.relative_to(seeds_dir).as_posix()
        stat = path.stat()
        info = DocumentInfo(name, path.suffix.lower().lstrip("."), stat.st_size,
                            datetime.fromtimestamp(stat.st_mtime, timezone.utc).isoformat(timespec="seconds"))
        if name in indexed:
            sha256, title, pages, passages = indexed[name]
            same = hashlib.sha256(path.read_bytes()).hexdigest() == sha256
            info = DocumentInfo(info.name, info.kind, info.bytes, info.modified, title, pages, passages, same)
        infos.append(info)
    return infos


def _write_atomically(target: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, fsync it, then rename it over `target`: a reader (or a
    build) sees the old file or the new one, never a part."""
    handle, temporary = tempfile.mkstemp(prefix=".upload-", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def example_questions(index_dir: Path | str, limit: int = 4) -> list[str]:
    """Questions to offer a newcomer, made from the indexed corpus itself: its section headings (else its
    document titles), in each document's language, plus one asked in English across languages when the corpus
    is Vietnamese. Empty when there is no index."""
    from qa.backends import open_store

    try:
        store = open_store(index_dir)
    except (QAError, OSError):
        return []
    try:
        topics: list[tuple[str, str]] = []  # (topic, language), in corpus order, each once
        for passage in store.passages:
            topic = (passage.section or "").split(" › ")[-1] or passage.title
            if topic and all(topic != seen for seen, _ in topics):
                topics.append((topic, passage.language))
    finally:
        store.close()
    if not topics:
        return []
    chosen = topics[:: max(1, len(topics) // limit)][:limit]  # spread over the corpus
    questions = [_about(topic, language) for topic, language in chosen]
    if any(language == "vi" for _, language in chosen) and len(chosen) > 1:
        questions[-1] = _about(chosen[-1][0], "en")
    return list(dict.fromkeys(questions))


def _about(topic: str, language: str) -> str:
    topic = " ".join(topic.split())[:80]
    return f"Tài liệu nói gì về “{topic}”?" if language == "vi" else f"What do the documents say about “{topic}”?"
