"""`make bench-mixed` (scripts/bench_mixed.py): one index of both texts, each question asked in both languages with
both texts' gold, and a holdout that leaves an article out in both languages."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import bench_mixed  # noqa: E402 — scripts/, beside bench_quality and benchkit, which it imports by name

from qa.evaluation import load_dataset  # noqa: E402
from qa.evaluation.datasets import DatasetError  # noqa: E402


def squad(tmp_path: Path, name: str, articles: list[tuple[str, str, list[tuple[str, str, str]]]]) -> Path:
    """A SQuAD file: (title, context, [(id, question, answer)]) per article."""
    data = [{"title": title, "paragraphs": [{"context": context, "qas": [
        {"id": qid, "question": question, "answers": [{"text": answer, "answer_start": context.index(answer)}]}
        for qid, question, answer in qas]}]} for title, context, qas in articles]
    path = tmp_path / name
    path.write_text(json.dumps({"data": data}, ensure_ascii=False), encoding="utf-8")
    return path


def test_both_texts_in_one_index_and_both_golds_count(tmp_path):
    vi = load_dataset(squad(tmp_path, "vi.json", [
        ("Harbour", "Bến cảng được xây lại vào năm 1958.", [("h1", "Bến cảng được xây lại năm nào?", "năm 1958")]),
        ("Library", "Thư viện mở cửa lúc 7 giờ sáng.", [("l1", "Thư viện mở cửa lúc mấy giờ?", "7 giờ sáng")])]))
    en = load_dataset(squad(tmp_path, "en.json", [  # titles of its own: the articles pair by position
        ("Port", "The harbour was rebuilt in 1958.", [("h1", "When was the harbour rebuilt?", "1958")]),
        ("Books", "The library opens at 7 am.", [("l1", "When does the library open?", "7 am")])]))

    mixed = bench_mixed.mixed_dataset(vi, en)
    names = [d.name for d in mixed.documents]
    assert len(names) == len(set(names)) == 4
    assert names[2:] == [bench_mixed.english_copy(name) for name in names[:2]]
    assert {d.text for d in mixed.documents} == {d.text for d in vi.documents + en.documents}
    asked = {(q.id, q.language): q for q in mixed.questions}
    assert set(asked) == {("h1", "vi"), ("h1", "en"), ("l1", "vi"), ("l1", "en")}
    assert asked["h1", "en"].question == "When was the harbour rebuilt?"
    assert asked["h1", "en"].answers == asked["h1", "vi"].answers == ("năm 1958", "1958")
    assert all(q.document is None and not q.out_of_document for q in mixed.questions)

    held = bench_mixed.hold_out_articles(mixed, vi, 0.5, seed=0)
    [left_out] = [name for name in held.holdout.documents if not name.endswith(bench_mixed.OTHER_SUFFIX)]
    assert set(held.holdout.documents) == {left_out, bench_mixed.english_copy(left_out)}
    assert [d.name for d in held.documents] == [n for n in names if n not in held.holdout.documents]
    assert len(held.documents) == 2
    gone = "h1" if "Harbour" in left_out else "l1"
    assert {(q.id, q.language) for q in held.questions} == {(gone, "vi"), (gone, "en")}
    assert all(q.out_of_document for q in held.questions)


SEED_HOLDING_OUT_BOTH_LANGUAGES = 1  # of four articles, it holds out the 2nd (English) and the 3rd (Vietnamese)


def test_split_indexes_each_article_in_one_language_and_its_holdout_leaves_that_copy_out(tmp_path):
    articles = [(f"Article {n}", f"Đoạn văn số {n} nói về năm {1900 + n}.", [(f"q{n}", f"Năm nào ở đoạn {n}?",
                                                                             str(1900 + n))]) for n in range(4)]
    vi = load_dataset(squad(tmp_path, "vi.json", articles))
    en = load_dataset(squad(tmp_path, "en.json", [(title, f"Paragraph {n} is about the year {1900 + n}.",
                                                   [(f"q{n}", f"Which year is paragraph {n} about?", str(1900 + n))])
                                                  for n, (title, _, _) in enumerate(articles)]))
    split = bench_mixed.one_language_each(bench_mixed.mixed_dataset(vi, en), vi)
    names = [d.name for d in vi.documents]
    assert [d.name for d in split.documents] == [names[0], names[2], bench_mixed.english_copy(names[1]),
                                                  bench_mixed.english_copy(names[3])]
    assert len(split.questions) == 8  # every question, in both languages, its gold document the indexed copy
    indexed = [name if n % 2 == 0 else bench_mixed.english_copy(name) for n, name in enumerate(names)]
    assert {(q.id, q.document) for q in split.questions} == {(f"q{n}", indexed[n]) for n in range(4)}

    held = bench_mixed.hold_out_articles(split, vi, 0.5, seed=SEED_HOLDING_OUT_BOTH_LANGUAGES)
    left = {d.name for d in held.documents}
    assert set(held.holdout.documents) == {d.name for d in split.documents} - left  # only copies that were indexed
    assert len(left) == 2 and {n.endswith(bench_mixed.OTHER_SUFFIX) for n in held.holdout.documents} == {True, False}
    assert len(held.questions) == 4 and all(q.out_of_document for q in held.questions)


def test_a_question_the_other_text_lacks_is_a_clear_error(tmp_path):
    vi = load_dataset(squad(tmp_path, "vi.json", [
        ("Harbour", "Bến cảng được xây lại vào năm 1958.", [("h1", "Bến cảng được xây lại năm nào?", "năm 1958")])]))
    en = load_dataset(squad(tmp_path, "en.json", [
        ("Harbour", "The harbour was rebuilt in 1958.", [("h2", "When was the harbour rebuilt?", "1958")])]))
    with pytest.raises(DatasetError, match="h1"):
        bench_mixed.mixed_dataset(vi, en)


def test_the_own_language_share_counts_answers_by_the_document_they_cite():
    def row(language: str, answered: bool, document: str) -> SimpleNamespace:
        return SimpleNamespace(language=language, answered=answered,
                               citations=[{"document": document}] if answered else [])

    run = SimpleNamespace(rows=[row("vi", True, "0001_a.txt"), row("vi", True, "0001_a.en.txt"),
                                row("vi", False, ""), row("en", True, "0002_b.en.txt")])
    assert bench_mixed.own_language_share(run, "vi") == 0.5
    assert bench_mixed.own_language_share(run, "en") == 1.0
    assert bench_mixed.own_language_share(SimpleNamespace(rows=[row("en", False, "")]), "en") is None
