"""Answers on the seed: grounded, cited, concise, in the asker's language; abstention on out-of-document questions.

The gold-set floors hold for the default (reading) answerer; the framing and span tests below them are the
extractive answerer's, which answers when no reader is installed (`AnswerSettings(reader=False)`)."""

import statistics
import time

import pytest

from conftest import load_gold
from qa.answer import AnswerSettings, Assistant
from qa.answer.spans import english_date, extract_span, question_type

pytestmark = pytest.mark.slow

# Floors a change must not fall below (measured rates are printed with pytest -s and reported in the README).
# The seed set is a sanity check now (choices are made on xquad-dev): floors a little under what it gives today
# (vi 0.900 / 0.000 / 0.917, en 0.625 / 0.075 / 0.917), so a regression fails.
FLOORS = {
    "vi": {"correct": 0.85, "wrong": 0.1, "abstained_ood": 0.75},
    "en": {"correct": 0.5, "wrong": 0.25, "abstained_ood": 0.75},  # the reader gives 0.550 / 0.200 / 0.833
}


@pytest.fixture(scope="module")
def assistant(retriever):
    return Assistant(retriever)


@pytest.fixture(scope="module")
def extractive(retriever):
    return Assistant(retriever, settings=AnswerSettings(reader=False))


def is_correct(row, answer):
    """Gold text inside the answer and inside a cited quote."""
    return answer.answered and row["answer"] in answer.answer and any(row["answer"] in c.quote
                                                                      for c in answer.citations)


@pytest.mark.parametrize("language", ["vi", "en"])
def test_gold_set_answer_quality_and_abstention(assistant, language):
    rows = [r for r in load_gold() if r["language"] == language]
    in_doc = [r for r in rows if r["answer"] is not None]
    out_of_doc = [r for r in rows if r["answer"] is None]
    assert len(out_of_doc) >= 8
    answers, latencies = {}, []
    for row in rows:
        started = time.perf_counter()
        answers[row["id"]] = assistant.ask(row["question"])
        latencies.append(time.perf_counter() - started)
    correct = sum(is_correct(r, answers[r["id"]]) for r in in_doc) / len(in_doc)
    wrong = sum(answers[r["id"]].answered and not is_correct(r, answers[r["id"]]) for r in in_doc) / len(in_doc)
    abstained = sum(not answers[r["id"]].answered for r in out_of_doc) / len(out_of_doc)
    words = statistics.mean(len(a.answer.split()) for a in answers.values() if a.answered)
    latency = statistics.median(latencies) * 1000
    print(f"\n[{language}] answered-correct {correct:.3f}  wrongly answered {wrong:.3f}  "
          f"abstained on out-of-document {abstained:.3f}  mean answer {words:.1f} words  median ask {latency:.0f} ms")
    assert correct >= FLOORS[language]["correct"]
    assert wrong <= FLOORS[language]["wrong"]
    assert abstained >= FLOORS[language]["abstained_ood"]
    assert words <= 60  # a sentence or its clauses around the answer, never a passage dump
    assert all(a.language == language for a in answers.values())


def test_vietnamese_answer_is_framed_in_vietnamese_with_exact_quotes(extractive, retriever):
    answer = extractive.ask("Hiệp định ngừng bắn được ký vào ngày nào?")
    assert answer.answered and answer.language == "vi"
    assert answer.answer.startswith("Theo tài liệu") and "[1]" in answer.answer
    assert answer.short_answer == "15 tháng 5"
    text = retriever.store.document_text("000_ae2b548a11784ba7.txt")
    for citation in answer.citations:
        assert text[citation.start:citation.end] == citation.quote
    assert AnswerSettings().min_confidence <= answer.confidence <= 1  # answered: at or above the threshold


def test_english_answer_says_the_source_is_vietnamese_and_gives_the_date_in_english(extractive):
    answer = extractive.ask("On what date did Azerbaijan launch its offensive against Mardakert?")
    assert answer.answered and answer.language == "en"
    assert "Vietnamese source" in answer.answer
    assert answer.answer.startswith("10 January 1994")
    assert answer.short_answer == "10 tháng 1 năm 1994"


def test_out_of_document_questions_get_a_polite_refusal_with_the_closest_passages(extractive):
    vi = extractive.ask("Thời tiết Hà Nội hôm nay thế nào?")
    en = extractive.ask("What is the capital of Australia?")
    assert not vi.answered and vi.answer == "Không tìm thấy thông tin này trong tài liệu."
    assert not en.answered and en.answer == "I could not find this in the documents."
    assert vi.citations == [] and vi.hits and vi.short_answer is None
    assert en.confidence < AnswerSettings().min_confidence and en.candidate  # the withheld answer is kept


def test_json_shape(extractive):
    data = extractive.ask("Ai đắc cử Tổng thống năm 1993?").to_dict()
    assert {"question", "language", "answered", "answer", "short_answer", "confidence", "citations",
            "hits"} <= set(data)
    assert set(data["citations"][0]) == {"marker", "passage_id", "document", "title", "section", "paragraph",
                                         "start", "end", "quote", "page"}
    assert data["short_answer"] == "Aliev"


def test_question_types_and_spans():
    assert question_type("Khi nào lệnh ngưng bắn được ký?") == "when"
    assert question_type("How many soldiers died?") == "how_many"
    assert question_type("Ai là tổng thống?") == "who"
    assert question_type("Where did they meet?") == "where"
    assert question_type("Vì sao họ ngừng bắn?") is None
    assert question_type("Who was president when the ceasefire was signed?") == "who"  # the first question word
    sentence = "Ngày 15 tháng 5, lãnh đạo của Armenia và Nga gặp mặt tại Moscow để ký hiệp định."
    assert extract_span("when", sentence, "Ký khi nào?") == "15 tháng 5"
    assert extract_span("where", sentence, "Lãnh đạo Armenia gặp nhau ở đâu?") == "Moscow"
    assert extract_span("how_many", "Mất 5000 lính, đàn ông dưới 45 tuổi.", "Dưới bao nhiêu tuổi?") == "45 tuổi"
    assert extract_span("who", "Giáo sư Nga Georgiy I. Mirsky đồng tình.", "Giáo sư người Nga nào?") == \
        "Georgiy I. Mirsky"
    assert english_date("tháng 10 năm 1993") == "October 1993" and english_date("3 tháng") is None
