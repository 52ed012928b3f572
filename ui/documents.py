"""The documents panel: what is indexed, upload (drag and drop, several files), remove; indexing runs in the
background (`qa.BackgroundIndexer`) while the chat keeps answering from the current index.

Uploads go through `qa.add_documents`: type-checked (the file must parse), size-limited, safely named, written
atomically into the seeds folder, so they survive a restart; a refused file is named with the reason.
"""

from __future__ import annotations

import html
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gradio as gr

import qa

log = logging.getLogger("hoidap.ui")

ACCEPTED = [".pdf", ".docx", ".html", ".htm", ".md", ".markdown", ".txt"]


class DocumentsPanel:
    """The handlers of the panel; every one returns (table, status, names for the remove list)."""

    def __init__(self, seeds_dir: Path, index_dir: Path, indexer: qa.BackgroundIndexer,
                 max_bytes: int = qa.MAX_DOCUMENT_BYTES) -> None:
        self.seeds_dir, self.index_dir, self.indexer, self.max_bytes = seeds_dir, index_dir, indexer, max_bytes

    def view(self, note: str = "") -> tuple[str, str, Any]:
        try:
            documents = qa.list_documents(self.seeds_dir, self.index_dir) if self.seeds_dir.is_dir() else []
        except qa.QAError as error:
            documents, note = [], note or str(error)
        return (render_table(documents), self.status_text(note),
                gr.update(choices=[d.name for d in documents], value=None))

    def status_text(self, note: str = "") -> str:
        status = self.indexer.status()
        lines = [note] if note else []
        if status.busy:
            lines.append(f"Đang lập chỉ mục · Indexing… {status.seconds():.0f} s — {status.message} "
                         "(vẫn trả lời từ chỉ mục hiện tại · answers still come from the current index)")
        elif status.state == "done":
            lines.append(f"Chỉ mục đã cập nhật · Index updated: {status.message}")
        elif status.state == "failed":
            lines.append(f"Lập chỉ mục thất bại · Indexing failed: {status.message}")
        return "  \n".join(html.escape(line) for line in lines)

    def upload(self, files: Sequence[Any] | None) -> tuple[str, str, Any, Any]:
        paths = [Path(getattr(f, "name", f)) for f in (files or [])]
        if not paths:
            return (*self.view(), None)
        try:
            names = qa.add_documents(self.seeds_dir, paths, names=[p.name for p in paths], max_bytes=self.max_bytes)
        except qa.QAError as error:
            return (*self.view(f"Không thêm được · Not added: {error}"), None)
        self.indexer.request()
        return (*self.view(f"Đã thêm · Added: {', '.join(names)}"), None)

    def remove(self, name: str | None) -> tuple[str, str, Any]:
        if not name:
            return self.view("Chọn một tài liệu để xoá · Choose a document to remove.")
        try:
            qa.remove_document(self.seeds_dir, name)
        except qa.QAError as error:
            return self.view(str(error))
        self.indexer.request()
        return self.view(f"Đã xoá · Removed: {name}")

    def tick(self, seen: tuple | None) -> tuple[Any, str, tuple]:
        """What the timer refreshes: the status, and the table only when this page has not seen the seeds
        folder and index as they are now (listing them hashes every file). `seen` is the page's own state."""
        now = self.signature()
        if now == seen:
            return gr.skip(), self.status_text(), seen
        table, status, _ = self.view()
        return table, status, now

    def signature(self) -> tuple:
        """Changes when a document is added, removed or changed, or a new index version is published."""
        try:
            stats = [(p, p.stat()) for p in qa.seed_files(self.seeds_dir)] if self.seeds_dir.is_dir() else []
            files = tuple((str(p), stat.st_size, stat.st_mtime_ns) for p, stat in stats)
        except (qa.QAError, OSError):
            files = ()
        return files, qa.current_version(self.index_dir), self.indexer.status().state


def render_table(documents: Sequence[qa.DocumentInfo]) -> str:
    if not documents:
        return ('<p class="qa-empty">Chưa có tài liệu nào · No documents yet: kéo thả tệp vào đây · drop files '
                'here.</p>')
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
    `panel.view` fills (for the page's load event)."""
    with gr.Accordion("Tài liệu · Documents", open=False, elem_id="qa-documents-panel"):
        table = gr.HTML(elem_id="qa-documents")
        status = gr.Markdown(elem_id="qa-documents-status")
        with gr.Row(equal_height=True):
            upload = gr.File(label="Thêm tài liệu · Add documents (PDF, DOCX, HTML, Markdown, TXT)",
                             file_count="multiple", file_types=ACCEPTED, elem_id="qa-upload", scale=3)
            with gr.Column(scale=2):
                choice = gr.Dropdown(label="Tài liệu · Document", choices=[], elem_id="qa-remove-choice")
                remove = gr.Button("Xoá tài liệu · Remove document", variant="stop", elem_id="qa-remove")
    outputs = [table, status, choice]
    upload.upload(panel.upload, [upload], [*outputs, upload], api_visibility="private", queue=False)
    remove.click(panel.remove, [choice], outputs, api_visibility="private", queue=False)
    seen = gr.State(None)
    gr.Timer(2.0).tick(panel.tick, [seen], [table, status, seen], api_visibility="private", queue=False,
                       show_progress="hidden")
    return outputs
