"""The documents panel: what is indexed, and, where the chat manages documents (`qa chat --manage-documents`),
upload (drag and drop, several files) and remove; indexing runs in the background (`qa.BackgroundIndexer`)
while the chat keeps answering from the current index. A read-only chat shows the list only.

Uploads are handed to the indexer (`BackgroundIndexer.add` → `qa.add_documents`: size-limited, parsed under
limits in a worker process, safely named, all or none, atomically into the seeds folder), never parsed on a web
request's thread; a refused file is named with the reason. Gradio's copy of an upload is deleted once it is
checked, so a removed document leaves no copy the server still serves.
"""

from __future__ import annotations

import html
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.utils import get_upload_folder

import qa

log = logging.getLogger("hoidap.ui")

ACCEPTED = [".pdf", ".docx", ".html", ".htm", ".md", ".markdown", ".txt"]


class DocumentsPanel:
    """The handlers of the panel; every one returns (table, status, names for the remove list)."""

    def __init__(self, seeds_dir: Path, index_dir: qa.Index, indexer: qa.BackgroundIndexer,
                 max_bytes: int = qa.MAX_DOCUMENT_BYTES, manage: bool = True) -> None:
        """`manage`: uploads and removals are offered (`qa chat --manage-documents`); else the list only."""
        self.seeds_dir, self.index_dir, self.indexer, self.max_bytes = seeds_dir, index_dir, indexer, max_bytes
        self.manage = manage

    def view(self, note: str = "") -> tuple:
        """(table, status) and, where documents are managed, the remove list's choices."""
        try:
            documents = qa.list_documents(self.seeds_dir, self.index_dir) if self.seeds_dir.is_dir() else []
        except qa.QAError as error:
            documents, note = [], note or str(error)
        shown = (render_table(documents, self.manage), self.status_text(note))
        return (*shown, gr.update(choices=[d.name for d in documents], value=None)) if self.manage else shown

    def status_text(self, note: str = "") -> str:
        status = self.indexer.status()
        lines = [note] if note else []
        if status.checking:
            lines.append(f"Đang kiểm tra · Checking: {', '.join(status.checking)}…")
        if status.refused:
            lines.append(f"Không thêm được · Not added: {status.refused}")
        elif status.added:
            lines.append(f"Đã thêm · Added: {', '.join(status.added)}")
        if status.busy:
            lines.append(f"Đang lập chỉ mục · Indexing… {status.seconds():.0f} s — {status.message} "
                         "(vẫn trả lời từ chỉ mục hiện tại · answers still come from the current index)")
        elif status.state == "done":
            lines.append(f"Chỉ mục đã cập nhật · Index updated: {status.message}")
        elif status.state == "failed":
            lines.append(f"Lập chỉ mục thất bại · Indexing failed: {status.message}")
        return "  \n".join(html.escape(line) for line in lines)

    def upload(self, files: Sequence[Any] | None) -> tuple:
        """Hand the uploads to the background indexer and return at once; the timer shows the outcome."""
        paths = [Path(f) if isinstance(f, (str, Path)) else Path(f.name) for f in (files or [])]
        if not paths:
            return (*self.view(), None)
        self.indexer.add(paths, [p.name for p in paths], max_bytes=self.max_bytes,
                         then=lambda: discard_uploads(paths))
        return (*self.view(), None)

    def remove(self, name: str | None) -> tuple:
        if not name:
            return self.view("Chọn một tài liệu để xoá · Choose a document to remove.")
        try:
            qa.remove_document(self.seeds_dir, name)
        except qa.QAError as error:
            return self.view(str(error))
        self.indexer.request()
        return self.view(f"Đã xoá · Removed: {name}")

    def tick(self, seen: tuple | None) -> tuple:
        """What the timer refreshes: the status, and the table (and where documents are managed, the remove
        list) only when this page has not seen the seeds folder and index as they are now (listing them hashes
        every file). `seen` is the page's own state; it comes last."""
        now = self.signature()
        if now == seen:
            return gr.skip(), self.status_text(), *([gr.skip()] if self.manage else []), seen
        return *self.view(), now

    def signature(self) -> tuple:
        """Changes when a document is added, removed or changed, or a new index version is published."""
        try:
            stats = [(p, p.stat()) for p in qa.seed_files(self.seeds_dir)] if self.seeds_dir.is_dir() else []
            files = tuple((str(p), stat.st_size, stat.st_mtime_ns) for p, stat in stats)
        except (qa.QAError, OSError):
            files = ()
        return files, qa.current_version(self.index_dir), self.indexer.status().state


def discard_uploads(paths: Sequence[Path]) -> None:
    """Delete Gradio's copies of uploaded files (and their folders when left empty), only inside its upload
    folder: once added, the seeds folder holds the one copy, and removing it removes the document."""
    folder = Path(get_upload_folder()).resolve()
    for path in paths:
        path = Path(path).resolve()
        if folder not in path.parents:
            continue
        path.unlink(missing_ok=True)
        try:
            path.parent.rmdir()
        except OSError:
            pass  # not empty, or already gone


def render_table(documents: Sequence[qa.DocumentInfo], manage: bool = True) -> str:
    if not documents:
        return ('<p class="qa-empty">Chưa có tài liệu nào · No documents yet' +
                (': kéo thả tệp vào đây · drop files here.</p>' if manage else '.</p>'))
    rows = []
    for d in documents:
        state = (f"{d.passages} đoạn · passages" if d.indexed else
                 "đang chờ · pending" if d.passages is None else "đã đổi · changed")
        pages = str(d.pages) if d.pages else "–"
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(_timestamp(d.modified)))
        rows.append(f"<tr><td>{html.escape(d.title or d.name)}<br><small>{html.escape(d.name)}</small></td>"
                    f"<td>{html.escape(d.kind.upper())}</td><td>{pages}</td><td>{html.escape(state)}</td>"
                    f"<td>{_size(d.bytes)}</td><td>{when}</td></tr>")
    return ('<table class="qa-documents"><thead><tr><th>Tài liệu · Document</th><th>Loại · Type</th>'
            '<th>Trang · Pages</th><th>Chỉ mục · Indexed</th><th>Cỡ · Size</th><th>Sửa · Modified</th></tr>'
            f'</thead><tbody>{"".join(rows)}</tbody></table>')


def _timestamp(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso).timestamp()


def _size(n: int) -> str:
    return f"{n / 1024:.0f} KiB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.1f} MiB"


def build_panel(panel: DocumentsPanel) -> list:
    """Lay out the panel inside the current Blocks and wire its events; returns the components that
    `panel.view` fills (for the page's load event). A panel that does not manage documents: the list only."""
    manage = panel.manage
    with gr.Accordion("Tài liệu · Documents", open=False, elem_id="qa-documents-panel"):
        table = gr.HTML(elem_id="qa-documents")
        status = gr.Markdown(elem_id="qa-documents-status")
        if manage:
            with gr.Row(equal_height=True):
                upload = gr.File(label="Thêm tài liệu · Add documents (PDF, DOCX, HTML, Markdown, TXT)",
                                 file_count="multiple", file_types=ACCEPTED, elem_id="qa-upload", scale=3)
                with gr.Column(scale=2):
                    choice = gr.Dropdown(label="Tài liệu · Document", choices=[], elem_id="qa-remove-choice")
                    remove = gr.Button("Xoá tài liệu · Remove document", variant="stop", elem_id="qa-remove")
    outputs = [table, status, choice] if manage else [table, status]
    if manage:
        upload.upload(panel.upload, [upload], [*outputs, upload], api_visibility="private", queue=False)
        remove.click(panel.remove, [choice], outputs, api_visibility="private", queue=False)
    seen = gr.State(None)
    gr.Timer(2.0).tick(panel.tick, [seen], [*outputs, seen], api_visibility="private", queue=False,
                       show_progress="hidden")
    return outputs
