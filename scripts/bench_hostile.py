"""The hostile-files table (issue 20): each attack run against a checkout of hoidap, with its wall time and the
peak memory of the process and its workers.

    .venv/bin/python scripts/bench_hostile.py [--repo PATH] [--timeout 60] [--out eval-out/bench-hostile]
    make bench-hostile                       # this checkout
    git worktree add /tmp/before <commit> && make bench-hostile REPO=/tmp/before   # the same table, before

Fixtures are made here (tests/hostile_files.py). Each case runs in a fresh `python` with the checkout first on
sys.path, under --timeout (a case still running then is killed and reported so); peak memory is the highest
VmHWM of the process and its workers, sampled from /proc. Writes report-<commit>.json and table-<commit>.md.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from hostile_files import docx_bomb, docx_paragraph_flood, long_vietnamese_name, nested_html  # noqa: E402
from benchkit.timing import markdown_table, write_report  # noqa: E402 — scripts/benchkit, beside this file

# Each case prints one line: what happened. Only APIs that every version has are used.
CASES = {
    "DOCX zip bomb (0.3 MB → 196 MB), qa.add_documents": """
        from qa.documents.corpus import add_documents
        try:
            add_documents(work / "seeds", [work / "bomb.docx"]); print("accepted")
        except Exception as error:
            print("refused:", error)
    """,
    "DOCX of 80,000 empty paragraphs (47 KB), read": """
        from qa.documents.formats import extract
        try:
            print("read:", len(extract("flood.docx", (work / "flood.docx").read_bytes()).text), "chars")
        except Exception as error:
            print("skipped:", error)
    """,
    "HTML of 23,000 nested <div>s (253 KB), read": """
        from qa.documents.formats import extract
        print("read:", repr(extract("nested.html", (work / "nested.html").read_bytes()).text))
    """,
    "upload of that HTML through the documents panel: the request returns after": """
        import qa
        from ui.documents import DocumentsPanel
        indexer = qa.BackgroundIndexer(work / "seeds", work / "index")
        try:
            panel = DocumentsPanel(work / "seeds", work / "index", indexer, manage=True)
        except TypeError:
            panel = DocumentsPanel(work / "seeds", work / "index", indexer)
        started = time.monotonic()
        panel.upload([str(work / "nested.html")])
        print(f"request returned in {time.monotonic() - started:.2f} s")
        os._exit(0)  # not waiting for the background build
    """,
    "documents panel of a default build_app": """
        from ui.app import build_app
        (work / "seeds").mkdir(exist_ok=True)
        demo = build_app(lambda: None, index_dir=work / "index", seeds_dir=work / "seeds", examples=[],
                         feedback_path=work / "f.jsonl")
        ids = {b.elem_id for b in demo.blocks.values() if getattr(b, "elem_id", None)}
        print("upload and remove offered" if "qa-upload" in ids else "list only (no upload, no remove)")
    """,
    "qa chat --mcp --auth": """
        import subprocess
        try:
            result = subprocess.run([sys.executable, "-m", "qa", "chat", "--seeds", str(work / "seeds"), "--index",
                                     str(work / "index"), "--mcp", "--auth", "ann:s3cret", "--port", "7921"],
                                    capture_output=True, text=True, timeout=25)
            print(f"exit {result.returncode}:", result.stderr.strip().splitlines()[-1][:160])
        except subprocess.TimeoutExpired:
            print("started, serving MCP beside the login (stopped after 25 s)")
    """,
    "a 20 MB feedback row": """
        from ui.feedback import FeedbackLog, api_vote_row
        log = FeedbackLog(work / "feedback.jsonl")
        try:
            log.append(api_vote_row("Hỏi?", "x" * 20_000_000, "up", [])); print("stored:", log.path.stat().st_size, "bytes")
        except Exception as error:
            print("refused:", error)
    """,
    "two-file add, the second with a 140-letter Vietnamese name (424 bytes)": """
        from qa.documents.corpus import add_documents
        try:
            added = add_documents(work / "seeds", [work / "b.txt", work / "a.txt"], names=["b.txt", LONG])
            print("added both; name bytes:", [len(n.encode()) for n in added])
        except Exception as error:
            left = sorted(p.name[:12] for p in (work / "seeds").iterdir())
            print(f"seeds now hold {left} after {type(error).__name__}: {str(error)[:60]}")
    """,
}


def make_fixtures(work: Path) -> None:
    (work / "seeds").mkdir(parents=True)
    (work / "bomb.docx").write_bytes(docx_bomb())
    (work / "flood.docx").write_bytes(docx_paragraph_flood())
    (work / "nested.html").write_bytes(nested_html())
    (work / "a.txt").write_text("Tệp có tên dài.\n", encoding="utf-8")
    (work / "b.txt").write_text("Tệp thứ hai.\n", encoding="utf-8")


def run_case(repo: Path, body: str, timeout: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="hostile-") as folder:
        work = Path(folder)
        make_fixtures(work)
        program = (f"import os, sys, time\nsys.path.insert(0, {str(repo)!r})\nfrom pathlib import Path\n"
                   f"work = Path({str(work)!r})\nLONG = {long_vietnamese_name()!r}\n" + textwrap.dedent(body))
        started = time.monotonic()
        # Its own session, so a timeout kills its workers too; peak memory sampled from /proc meanwhile.
        env = {**os.environ, "PYTHONPATH": str(repo)}  # `python -m qa` in a case runs that checkout too
        child = subprocess.Popen([sys.executable, "-c", program], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True, cwd=work, start_new_session=True, env=env)
        peak = 0
        while child.poll() is None and time.monotonic() - started < timeout:
            peak = max(peak, tree_peak_kib(child.pid))
            time.sleep(0.05)
        seconds = time.monotonic() - started
        killed = child.poll() is None
        if killed:
            peak = max(peak, tree_peak_kib(child.pid))
            os.killpg(child.pid, signal.SIGKILL)
        out, err = child.communicate()
    peak_mib = round(peak / 1024) if peak else None
    if killed:
        return {"outcome": f"still running at {timeout:.0f} s: killed", "seconds": None, "peak_mib": peak_mib}
    said = out.strip().splitlines()
    outcome = said[-1] if said else (err.strip().splitlines() or ["(nothing)"])[-1]
    return {"outcome": outcome[:220], "seconds": round(seconds, 2), "peak_mib": peak_mib}


def tree_peak_kib(pid: int) -> int:
    """The highest peak resident size (VmHWM) among `pid` and its descendants, in KiB (0 when gone)."""
    peak, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            peak = max(peak, int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM"))))
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, StopIteration, ValueError):
            continue
    return peak


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", type=Path, default=ROOT)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--out", type=Path, default=ROOT / "eval-out" / "bench-hostile")
    args = parser.parse_args()
    commit = subprocess.run(["git", "-C", str(args.repo), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    if subprocess.run(["git", "-C", str(args.repo), "status", "--porcelain", "--untracked-files=no"],
                      capture_output=True, text=True).stdout.strip():
        commit += "-modified"
    rows = {}
    for name, body in CASES.items():
        rows[name] = run_case(args.repo.resolve(), body, args.timeout)
        print(f"{name}: {rows[name]}", flush=True)
    label = f"{args.repo.name}@{commit}"
    write_report(args.out, {"repo": label, "rows": rows}, table(label, rows), json_name=f"report-{commit}.json",
                 table_name=f"table-{commit}.md")
    return 0


def table(label: str, rows: dict[str, dict]) -> list[str]:
    """One row a case; a `|` in an outcome would split its cell, and a case killed at the timeout has no time."""
    return markdown_table((f"case ({label})", "outcome", "wall s", "peak MiB"),
                          [(name, row["outcome"].replace("|", "/"), "—" if row["seconds"] is None else row["seconds"],
                            "—" if row["peak_mib"] is None else row["peak_mib"]) for name, row in rows.items()],
                          align="llrr")


if __name__ == "__main__":
    raise SystemExit(main())
