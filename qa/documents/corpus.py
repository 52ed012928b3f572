"""The corpus as its owner manages it: list, add and remove the documents of a seeds folder.

Adding checks each file before it enters the folder (a supported type, within the size limit, text that can be
read within the parse limits, in a worker process), gives it a safe name (no path, no traversal, no hidden or
control characters, within a byte budget) and adds all the files or none: each is written beside its place
first, and only when all are written are they renamed into place; any failure puts back what was there.
Re-indexing is the caller's next step (`qa.build_index`), which embeds only what is new or changed.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from qa.documents.reading import seed_files
from qa.errors import DocumentRejectedError, InvalidArgumentError, QAError
from qa.documents.formats import DEFAULT_LIMITS, SUFFIXES, ParseLimits, UnreadableDocumentError

if TYPE_CHECKING:
    from qa.store.base import Index

MAX_DOCUMENT_BYTES = 100 * 1024 * 1024  # a 1,000-page PDF is a few tens of MB
MAX_NAME_BYTES = 200  # of the 255 most file systems allow, leaving room for the temporary names beside it


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
    control or format characters, not hidden, at most `MAX_NAME_BYTES` in UTF-8 (a Vietnamese letter takes up to
    three); `InvalidArgumentError` when nothing usable is left or the type is not supported."""
    base = re.split(r"[\\/]", unicodedata.normalize("NFC", str(filename)))[-1]
    base = "".join(c for c in base if unicodedata.category(c)[0] != "C").strip().lstrip(".").strip()
    stem, dot, suffix = base.rpartition(".")
    if not dot or not stem.strip(" ."):
        raise InvalidArgumentError(f"{filename!r} has no usable file name with a suffix ({', '.join(SUFFIXES)}).")
    if "." + suffix.lower() not in SUFFIXES:
        raise DocumentRejectedError(f"{base}: .{suffix} files are not supported; use one of {', '.join(SUFFIXES)}.")
    suffix = suffix.lower()
    budget = MAX_NAME_BYTES - len(suffix.encode()) - 1
    stem = stem.strip().encode()[:budget].decode("utf-8", errors="ignore").strip()  # cut between characters
    return f"{stem}.{suffix}"


def add_documents(seeds_dir: Path | str, files: Iterable[Path | str], *, names: Iterable[str] | None = None,
                  max_bytes: int = MAX_DOCUMENT_BYTES, limits: ParseLimits = DEFAULT_LIMITS) -> list[str]:
    """Copy `files` into the seeds folder under safe names (`names`: the names to give them, e.g. an upload's
    original names; default: the files' own), replacing a document of the same name. All or nothing: every file
    is checked (parsed under `limits` in a worker process) and written beside its place before any is renamed
    into place; if one is refused or cannot be written, the folder is left as it was and
    `DocumentRejectedError` says which and why. Returns the names written."""
    from qa.documents.parsing import BoundedParser

    seeds_dir = Path(seeds_dir)
    seeds_dir.mkdir(parents=True, exist_ok=True)
    files = [Path(f) for f in files]
    wanted = list(names) if names is not None else [f.name for f in files]
    if len(wanted) != len(files):
        raise InvalidArgumentError("Give one name for each file.")
    loaded: list[tuple[str, bytes]] = []
    for path, wanted_name in zip(files, wanted):
        name = safe_name(wanted_name)
        try:
            size = path.stat().st_size
            if size > max_bytes:
                raise DocumentRejectedError(f"{name}: {size / 1e6:.1f} MB is over the {max_bytes / 1e6:.0f} MB limit.")
            loaded.append((name, path.read_bytes()))
        except OSError as error:
            raise DocumentRejectedError(f"Cannot read {path}: {error.strerror or error}.") from error
    if len({name for name, _ in loaded}) != len(loaded):
        raise DocumentRejectedError("Two of the files would get the same name; rename one.")
    with BoundedParser(limits) as parser:
        for name, _, outcome in parser.parse_all(loaded):
            if isinstance(outcome, UnreadableDocumentError):
                raise DocumentRejectedError(f"{name}: {outcome}.")
    _put_all(seeds_dir, loaded)
    return [name for name, _ in loaded]


def _put_all(seeds_dir: Path, files: list[tuple[str, bytes]]) -> None:
    """Write every file beside its place (fsynced), then rename each into place, keeping a hard link to any file
    it replaces; on any failure, undo the renames done and remove what was written."""
    staged: list[tuple[Path, Path]] = []
    placed: list[tuple[Path, Path | None]] = []  # (target, the link to what it replaced)
    try:
        for name, data in files:
            try:
                staged.append((_write_aside(seeds_dir, data), seeds_dir / name))
            except OSError as error:
                raise DocumentRejectedError(f"{name}: it cannot be written ({error.strerror or error}).") from None
        for temporary, target in staged:
            kept = None
            try:
                kept = _keep(target) if target.exists() else None
                os.replace(temporary, target)
            except OSError as error:
                if kept is not None:
                    kept.unlink(missing_ok=True)
                raise DocumentRejectedError(f"{target.name}: it cannot be written ({error.strerror or error}).") \
                    from None
            placed.append((target, kept))
    except BaseException:
        for target, kept in reversed(placed):
            if kept is not None:
                os.replace(kept, target)
            else:
                target.unlink(missing_ok=True)
        for temporary, _ in staged:
            temporary.unlink(missing_ok=True)
        raise
    for _, kept in placed:
        if kept is not None:
            kept.unlink(missing_ok=True)


def _write_aside(folder: Path, data: bytes) -> Path:
    """`data` in a new hidden temporary file of `folder`, fsynced (a hidden name: never read as a document)."""
    handle, temporary = tempfile.mkstemp(prefix=".upload-", dir=folder)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return Path(temporary)


def _keep(target: Path) -> Path:
    """A hidden second name for `target`'s current file (a hard link; a copy where links are not allowed), so
    a failed add can put it back."""
    handle, kept = tempfile.mkstemp(prefix=".replaced-", dir=target.parent)
    os.close(handle)
    os.unlink(kept)
    try:
        os.link(target, kept)
    except OSError:
        shutil.copy2(target, kept)
    return Path(kept)


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


def list_documents(seeds_dir: Path | str, index_dir: Path | str | Index | None = None) -> list[DocumentInfo]:
    """The seeds folder's documents, with what the index (when there is one) holds of each."""
    from qa.store.location import parse_index

    seeds_dir = Path(seeds_dir)
    indexed: dict[str, tuple[str, str, int | None, int]] = {}
    if index_dir is not None:
        try:
            store = parse_index(index_dir).open()
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


def example_questions(index_dir: Path | str | Index, limit: int = 4) -> list[str]:
    """Questions to offer a newcomer, made from the indexed corpus itself: its section headings (else its
    document titles), in each document's language, plus one asked in English across languages when the corpus
    is Vietnamese. Empty when there is no index."""
    from qa.store.location import parse_index

    try:
        store = parse_index(index_dir).open()
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
