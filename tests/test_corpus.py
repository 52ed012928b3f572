"""Managing the corpus: `qa add`, `qa remove`, `qa list` and the `qa.documents.corpus` functions under them. Uploads are
type-checked, size-limited and safely named; a refused one leaves the seeds folder as it was."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import qa
from qa.documents.corpus import add_documents, list_documents, remove_document, safe_name

from test_formats import NEWS_HTML, docx_bytes

QA = [sys.executable, "-m", "qa"]
MODEL = "sentence-transformers/all-MiniLM-L6-v2"  # quick to load; the corpus's behaviour is the same for any model


def run_qa(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*QA, *args, "--model", MODEL] if args[0] in ("add", "remove") else [*QA, *args],
                          capture_output=True, text=True, cwd=cwd, timeout=300)


@pytest.mark.parametrize("given, expected", [
    ("report.PDF", "report.pdf"), ("../../etc/passwd.txt", "passwd.txt"), ("C:\\Users\\me\\notes.md", "notes.md"),
    (".hidden.html", "hidden.html"), ("a\x00b\u202e.docx", "ab.docx"), ("Tài lie\u0323\u0302u.txt", "Tài liệu.txt"),
])
def test_safe_names_stay_in_the_seeds_folder(given, expected):
    assert safe_name(given) == expected


@pytest.mark.parametrize("given", ["", "..", "/", "noext", ".pdf", "../.txt"])
def test_names_with_nothing_usable_are_refused(given):
    with pytest.raises(qa.InvalidArgumentError):
        safe_name(given)


def test_add_checks_every_file_first_and_adds_none_when_one_is_refused(tmp_path):
    seeds = tmp_path / "seeds"
    good, bad, big = tmp_path / "news.html", tmp_path / "broken.docx", tmp_path / "big.txt"
    good.write_bytes(NEWS_HTML)
    bad.write_bytes(b"PK\x03\x04 this is no Word file")
    big.write_text("word " * 300, encoding="utf-8")
    with pytest.raises(qa.DocumentRejectedError, match="broken.docx"):
        add_documents(seeds, [good, bad])
    with pytest.raises(qa.DocumentRejectedError, match="big.txt: .* over the"):
        add_documents(seeds, [good, big], max_bytes=1000)
    with pytest.raises(qa.DocumentRejectedError, match=r"\.exe files are not supported"):
        add_documents(seeds, [good], names=["setup.exe"])
    assert list(seeds.iterdir()) == []  # nothing half-added, no temporary file left
    assert add_documents(seeds, [good], names=["../Tin tức.HTML"]) == ["Tin tức.html"]
    assert sorted(p.name for p in seeds.iterdir()) == ["Tin tức.html"]


def test_remove_only_names_documents_of_the_folder(tmp_path):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "a.md").write_text("# A\n\nText.\n", encoding="utf-8")
    (tmp_path / "outside.md").write_text("keep me", encoding="utf-8")
    for name in ("../outside.md", "missing.md", "/etc/passwd"):
        with pytest.raises(qa.InvalidArgumentError, match="No document"):
            remove_document(seeds, name)
    assert (tmp_path / "outside.md").exists()
    remove_document(seeds, "a.md")
    assert not (seeds / "a.md").exists()


def test_add_list_remove_from_the_command_line(tmp_path):
    (tmp_path / "bao-cao.docx").write_bytes(docx_bytes())
    (tmp_path / "news.html").write_bytes(NEWS_HTML)
    (tmp_path / "fake.pdf").write_bytes(b"%PDF-1.7 nothing")

    refused = run_qa("add", "fake.pdf", "news.html", cwd=tmp_path)
    assert refused.returncode == 2 and "Error: fake.pdf: it is not a readable PDF" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not (tmp_path / "seeds").exists() or not list((tmp_path / "seeds").iterdir())

    added = run_qa("add", "bao-cao.docx", "news.html", "--json", cwd=tmp_path)
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["documents"] == 2

    listed = run_qa("list", "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert set(rows) == {"bao-cao.docx", "news.html"}
    assert rows["bao-cao.docx"]["kind"] == "docx" and rows["bao-cao.docx"]["title"] == "Báo cáo mùa màng"
    assert rows["news.html"]["indexed"] and rows["news.html"]["passages"] == 4

    asked = subprocess.run([*QA, "search", "How far away can the lamp be seen?", "--json", "-k", "1"],
                           capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert json.loads(asked.stdout)["hits"][0]["citation"]["section"] == "Its lamp"

    removed = run_qa("remove", "news.html", cwd=tmp_path)
    assert removed.returncode == 0, removed.stderr
    assert [row["name"] for row in json.loads(run_qa("list", "--json", cwd=tmp_path).stdout)] == ["bao-cao.docx"]
    missing = run_qa("remove", "news.html", cwd=tmp_path)
    assert missing.returncode == 2 and "No document 'news.html'" in missing.stderr


def test_list_shows_what_the_index_does_not_hold_yet(tmp_path):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "a.md").write_text("# A\n\nThe first text.\n", encoding="utf-8")
    [row] = list_documents(seeds, tmp_path / "index")
    assert row.name == "a.md" and not row.indexed and row.passages is None and row.kind == "md"
