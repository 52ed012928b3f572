"""qa eval's pure parts: normalisation, EM/F1, ranking metrics, aggregation, dataset loading and its errors."""

import json
import math
import unicodedata

import pytest

from qa.documents.reading import make_document
from qa.evaluation import (DatasetError, EvalMetrics, LanguageMetrics, QuestionResult, contains, exact_match,
                           hit_at, load_dataset, ndcg, normalize_answer, reciprocal_rank, summarize,
                           summarize_by_language, token_f1)
from qa.evaluation.metrics import first_relevant_rank, hit_curve, mean, word_count
from qa.evaluation.records import METRIC_KEYS
from qa.evaluation.report import compare, format_change, load_metrics
from qa.documents.passages import split_document

from conftest import ROOT

FIXTURE_VI = ROOT / "tests" / "data" / "squad_fixture_vi.json"
FIXTURE_EN = ROOT / "tests" / "data" / "squad_fixture_en.json"
GOLD = ROOT / "tests" / "data" / "seed_gold.jsonl"


# ------------------------------------------------------------------------------------------------ normalisation

def test_normalisation_keeps_vietnamese_diacritics():
    assert normalize_answer("Hà  Nội.") == normalize_answer("hà nội") == "hà nội"
    assert normalize_answer("Hà Nội") != normalize_answer("Ha Noi")
    assert exact_match("Hà  Nội.", ["hà nội"]) == 1.0
    assert exact_match("Ha Noi", ["Hà Nội"]) == 0.0
    assert token_f1("Ha Noi", ["Hà Nội"]) == 0.0
    assert normalize_answer("Đà Nẵng") == "đà nẵng"  # đ is a letter, not d with a mark


def test_normalisation_is_unicode_aware():
    decomposed = unicodedata.normalize("NFD", "Hà Nội")
    assert decomposed != "Hà Nội"
    assert exact_match(decomposed, ["Hà Nội"]) == 1.0  # NFC first
    assert normalize_answer("“Hà Nội”, «Huế»…") == "hà nội huế"  # Unicode punctuation, not only ASCII
    assert normalize_answer("9%") == "9"
    assert normalize_answer("The Eiffel Tower") == "eiffel tower"
    assert exact_match("the Beatles", ["Beatles"]) == 1.0
    # Vietnamese has no articles to strip: "an" is a word there (an ninh = security)
    assert normalize_answer("an ninh", "vi") == "an ninh"
    assert normalize_answer("an ninh", "en") == "ninh"


def test_containment_ignores_case_form_and_white_space_only():
    assert contains("Lãnh đạo gặp mặt tại  MOSCOW để ký", "moscow để")
    assert contains(unicodedata.normalize("NFD", "tháng 10 năm 1993"), "Tháng 10\nnăm 1993")
    assert not contains("Hà Nội", "Ha Noi")
    assert not contains("anything", "")


def test_token_f1_and_exact_match():
    assert token_f1("tháng 10 năm 1993", ["năm 1993"]) == pytest.approx(2 * 0.5 * 1 / 1.5)
    assert token_f1("Moscow", ["Moscow", "Moskva"]) == 1.0  # best over the golds
    assert token_f1(None, ["x"]) == exact_match(None, ["x"]) == 0.0
    assert token_f1("a", ["the"]) == 1.0  # both normalise to nothing (SQuAD)
    assert exact_match("Nga hoặc CSCE", ["nga hoặc csce"]) == 1.0
    assert word_count("Theo tài liệu: Aliev đắc cử. [1]") == 6


# --------------------------------------------------------------------------------------------- ranking metrics

def test_hit_at_k_mrr_and_first_rank():
    assert first_relevant_rank([False, True, True]) == 2
    assert first_relevant_rank([False, False]) is None
    assert hit_at(2, 1) is False and hit_at(2, 2) is True and hit_at(None, 10) is False
    assert reciprocal_rank(4) == 0.25 and reciprocal_rank(None) == 0.0


def test_ndcg_binary_relevance():
    assert ndcg([True], 1) == 1.0
    assert ndcg([False, True, False], 1) == pytest.approx(1 / math.log2(3))
    # two of three relevant passages retrieved at ranks 1 and 2: the ideal has all three on top
    assert ndcg([True, True, False], 3) == pytest.approx((1 + 1 / math.log2(3)) / (1 + 1 / math.log2(3) + 0.5))
    assert ndcg([False] * 10, 0) == 0.0
    assert ndcg([False] * 10 + [True], 1, k=10) == 0.0  # past the cut-off


# ------------------------------------------------------------------------------------------------- aggregation

def result(language="vi", rank=1, answered=True, out=False, correct=True, em=1.0, f1=1.0, citations=1, good=1,
           latency=10.0, answer="Theo tài liệu: câu trả lời [1]", short=None, confidence=0.9) -> QuestionResult:
    return QuestionResult(
        id=f"{language}-{rank}-{out}", question="?", language=language, gold=() if out else ("x",),
        gold_document=None, indexed=True, out_of_document=out, answered=answered, answer=answer, short_answer=short,
        candidate=None, confidence=confidence, citations=[{"quote": "x"}] * citations, hits=[],
        first_relevant_rank=None if out else rank, relevant_passages=0 if out else 1,
        ndcg_10=None if out else (1.0 if rank == 1 else 0.0), answer_correct=None if out else correct,
        holds_gold=None if out else correct, short_holds_gold=None if out else short is not None and "x" in short,
        short_em=None if out else em, short_f1=None if out else f1, good_citations=0 if out else good,
        latency_ms=latency)


def test_summarize_skips_what_does_not_apply():
    rows = [result(rank=1, latency=10), result(rank=None, correct=False, em=0.0, f1=0.5, good=0, latency=30),
            result(out=True, answered=False, citations=0, latency=20)]
    m = summarize(rows, k=5)
    assert m.n == 3
    assert m.hit_1 == 0.5 and m.hit_k == 0.5 and m.mrr == 0.5 and m.ndcg_10 == 0.5
    assert m.answer_correct == 0.5 and m.short_em == 0.5 and m.short_f1 == 0.75
    assert m.citation_precision == 0.5  # 1 of the 2 citations on answerable questions holds the gold
    assert m.abstain_precision == 1.0 and m.abstain_recall == 1.0
    assert m.latency_p50_ms == 20.0 and m.answer_words == 6.0  # answered rows only
    assert m.answered_rate == 1.0 and m.wrong_rate == 0.5  # both in-document rows answered, one of them wrongly
    assert m.short_holds_gold == 0.0  # neither has a short answer


def test_new_answer_rates_count_abstentions_as_not_answered():
    rows = [result(short="x"), result(short="y", correct=False), result(answered=False, correct=False, citations=0),
            result(out=True, answered=True), result(out=True, answered=False)]
    m = summarize(rows, k=5)
    assert m.short_holds_gold == pytest.approx(1 / 3)  # of the three in-document rows; no short answer is a miss
    assert m.answered_rate == pytest.approx(2 / 3) and m.wrong_rate == pytest.approx(1 / 3)
    assert m.answered_rate == pytest.approx(m.answer_correct + m.wrong_rate)
    assert m.abstain_recall == 0.5  # out-of-document rows only


def test_summarize_gives_null_for_metrics_without_rows():
    only_answerable = summarize([result(), result(rank=3)], k=5)
    assert only_answerable.abstain_precision is None and only_answerable.abstain_recall is None
    assert only_answerable.hit_1 == 0.5 and only_answerable.hit_k == 1.0
    only_outside = summarize([result(out=True, answered=True, citations=1)], k=5)
    assert only_outside.hit_1 is None and only_outside.short_f1 is None and only_outside.citation_precision is None
    assert only_outside.abstain_recall == 0.0 and only_outside.abstain_precision is None  # never abstained
    empty = summarize([], k=5)
    assert empty.n == 0 and empty.latency_p50_ms is None
    assert mean([None, 1.0, None, 0.0]) == 0.5 and mean([None]) is None


def test_by_language_and_metrics_json_shape():
    rows = [result("en"), result("vi"), result("vi", rank=None, correct=False)]
    by_language = summarize_by_language(rows, k=5)
    assert list(by_language) == ["vi", "en"]
    metrics = EvalMetrics("set.jsonl", 4, by_language, summarize(rows, 5))
    data = json.loads(json.dumps(metrics.to_dict()))
    assert set(data) == {"dataset", "questions", "by_language", "overall", "settings", "wall_seconds",
                         "risk_coverage"}
    assert set(data["by_language"]["vi"]) == set(METRIC_KEYS) == set(data["overall"])
    assert data["by_language"]["vi"]["hit@1"] == 0.5 and data["overall"]["abstain_recall"] is None
    assert EvalMetrics.from_dict(data).to_dict() == data
    assert hit_curve(rows, 3) == [2 / 3, 2 / 3, 2 / 3]


def test_compare_says_which_way_is_better():
    old = EvalMetrics("a", 2, {}, LanguageMetrics(n=2, hit_1=0.5, latency_p50_ms=100.0))
    new = EvalMetrics("a", 2, {}, LanguageMetrics(n=2, hit_1=0.75, latency_p50_ms=120.0))
    deltas = {d.metric: d for d in compare(old, new)}
    assert set(deltas) == {"n", "hit@1", "latency_p50_ms"}  # metrics null in both runs are left out
    assert deltas["hit@1"].verdict == "better" and format_change(deltas["hit@1"]) == "+25.0 pp"
    assert deltas["latency_p50_ms"].verdict == "worse" and format_change(deltas["latency_p50_ms"]) == "+20 ms"
    assert deltas["n"].verdict == ""
    wrong = compare(EvalMetrics("a", 1, {}, LanguageMetrics(n=1, wrong_rate=0.2)),
                    EvalMetrics("a", 1, {}, LanguageMetrics(n=1, wrong_rate=0.1)))
    assert {d.metric: d.verdict for d in wrong}["wrong_rate"] == "better"


def test_metrics_json_of_an_older_run_still_compares(tmp_path):
    """A metrics.json written before settings, risk-coverage and the new rates existed: missing means None."""
    old_file = tmp_path / "metrics.json"
    old_file.write_text(json.dumps({"dataset": "d", "questions": 2,
                                    "by_language": {"vi": {"n": 2, "hit@1": 0.5, "answer_correct": 0.5}},
                                    "overall": {"n": 2, "hit@1": 0.5, "answer_correct": 0.5}}), encoding="utf-8")
    old = load_metrics(old_file)
    assert old.settings == {} and old.wall_seconds is None and old.risk_coverage == {}
    assert old.overall.wrong_rate is None and old.overall.short_holds_gold is None
    rows = [result(short="x"), result(correct=False)]
    new = EvalMetrics("d", 2, summarize_by_language(rows, 5), summarize(rows, 5), {"k": 5}, 1.5)
    deltas = {(d.scope, d.metric): d for d in compare(old, new)}
    assert deltas[("overall", "hit@1")].change == 0.5
    assert deltas[("vi", "wrong_rate")].old is None and deltas[("vi", "wrong_rate")].change is None
    assert format_change(deltas[("vi", "wrong_rate")]) == "—"


# ---------------------------------------------------------------------------------------------------- datasets

def test_squad_fixture_loads_with_documents_and_detected_languages():
    dataset = load_dataset(FIXTURE_VI)
    assert dataset.format == "squad" and len(dataset.questions) == 14
    assert sum(q.out_of_document for q in dataset.questions) == 2
    assert {q.language for q in dataset.questions} == {"vi"}
    assert [len(d.paragraphs) for d in dataset.documents] == [3, 3]
    assert {q.document for q in dataset.questions} == {d.name for d in dataset.documents}
    document = dataset.documents[0]
    assert document.text.startswith("Vịnh Hạ Long\n\n")
    parsed = make_document(document.name, document.text)
    assert parsed.title == "Vịnh Hạ Long"
    assert [p.paragraph for p in split_document(parsed)] == [1, 2, 3]  # one passage a context
    for question in dataset.questions:
        context = next(d for d in dataset.documents if d.name == question.document).text
        assert all(answer in context for answer in question.answers)


def test_cross_lingual_questions_come_from_the_other_file():
    dataset = load_dataset(FIXTURE_VI, questions=FIXTURE_EN)
    vietnamese = {q.id: q for q in load_dataset(FIXTURE_VI).questions}
    assert dataset.questions_path == FIXTURE_EN
    assert {q.language for q in dataset.questions} == {"en"}
    for question in dataset.questions:
        assert question.answers == vietnamese[question.id].answers  # gold from the Vietnamese file
        assert question.question != vietnamese[question.id].question


def test_jsonl_gold_set_loads():
    dataset = load_dataset(GOLD)
    assert dataset.format == "jsonl" and not dataset.documents
    assert dataset.languages == ["vi", "en"]
    assert all(q.document is None for q in dataset.questions)
    assert any(q.out_of_document for q in dataset.questions)


def test_jsonl_row_without_language_is_detected(tmp_path):
    path = tmp_path / "set.jsonl"
    path.write_text('{"id": 1, "question": "Ai đắc cử Tổng thống?", "answer": ["Aliev", "Aliyev"]}\n\n'
                    '{"id": "b", "question": "Who won?", "answer": null}\n', encoding="utf-8")
    first, second = load_dataset(path).questions
    assert (first.id, first.language, first.answers) == ("1", "vi", ("Aliev", "Aliyev"))
    assert (second.language, second.out_of_document) == ("en", True)


def _error(path, questions=None) -> str:
    with pytest.raises(DatasetError) as caught:
        load_dataset(path, questions)
    message = str(caught.value)
    assert str(path if questions is None else questions) in message  # always names the file
    return message


@pytest.mark.parametrize("content, where, what", [
    ('{"id": "a", "question": "Q?", "answer": "x"}\n{"id": "b", "question": ', "line 2", "not valid JSON"),
    ('{"id": "a", "question": "Q?"}\n', "line 1", 'missing field "answer"'),
    ('\n{"id": "a", "question": 5, "answer": "x"}\n', "line 2", '"question" must be a string'),
    ('{"id": "a", "question": "  ", "answer": "x"}\n', "line 1", "empty"),
    ('{"id": "a", "question": "Q?", "answer": 7}\n', "line 1", '"answer" must be'),
    ('{"id": "a", "question": "Q?", "answer": "x", "language": 3}\n', "line 1", '"language"'),
    ('["a"]\n', "line 1", "expected a JSON object"),
    ('{"id": "a", "question": "Q?", "answer": "x"}\n{"id": "a", "question": "R?", "answer": "y"}\n', "line 2",
     "duplicate id"),
])
def test_bad_jsonl_names_file_and_line(tmp_path, content, where, what):
    path = tmp_path / "bad.jsonl"
    path.write_text(content, encoding="utf-8")
    message = _error(path)
    assert where in message and what in message


def test_empty_unreadable_or_missing_dataset(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n", encoding="utf-8")
    assert "no questions" in _error(empty)
    binary = tmp_path / "latin1.jsonl"
    binary.write_bytes('{"question": "Hà Nội"}'.encode("latin-1", "replace") + b"\xff")
    assert "UTF-8" in _error(binary)
    assert "no such file" in _error(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"data": [', encoding="utf-8")
    assert "not valid JSON" in _error(broken)


def squad(qas, context="Aliev đắc cử Tổng thống tháng 10 năm 1993.", title="T") -> dict:
    return {"data": [{"title": title, "paragraphs": [{"context": context, "qas": qas}]}]}


@pytest.mark.parametrize("data, what", [
    ({"data": {}}, '"data" must be a list'),
    ({"data": [{"title": "T"}]}, 'data[0]: "paragraphs" must be a list'),
    ({"data": [{"title": "T", "paragraphs": [{"qas": []}]}]}, 'data[0].paragraphs[0]: missing or empty "context"'),
    (squad([{"id": "q1", "question": "Ai?", "answers": [{"text": "Aliev"}]}, {"id": "q2", "question": "Khi nào?"}]),
     'data[0].paragraphs[0].qas[1] (id q2): "answers" must be a non-empty list'),
    (squad([{"id": "q1", "answers": [{"text": "Aliev"}]}]), 'qas[0] (id q1): missing field "question"'),
    (squad([{"question": "Ai?", "answers": [{"text": "Aliev"}]}]), 'qas[0]: missing field "id"'),
    (squad([{"id": "q1", "question": "Ai?", "answers": [{"start": 0}]}]), 'answers[0] needs a non-empty "text"'),
    (squad([{"id": "q1", "question": "Ai?", "answers": [], "is_impossible": "no"}]), '"is_impossible" must be'),
    (squad([]), "holds no questions"),
    ([1, 2], "expected SQuAD-format JSON"),
])
def test_bad_squad_names_file_and_row(tmp_path, data, what):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    assert what in _error(path)


def test_questions_file_missing_ids_is_an_error_naming_them(tmp_path):
    other = tmp_path / "other.json"
    data = json.loads(FIXTURE_EN.read_text(encoding="utf-8"))
    del data["data"][1]["paragraphs"][2]["qas"][1:]  # keeps cp-05, drops cp-06 and cp-x1
    other.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    message = _error(FIXTURE_VI, questions=other)
    assert "2 question id(s)" in message and "cp-06" in message and "cp-x1" in message
    assert str(FIXTURE_VI) in message


def test_impossible_questions_have_no_answers_even_if_listed(tmp_path):
    path = tmp_path / "v2.json"
    path.write_text(json.dumps(squad([
        {"id": "q1", "question": "Ai là Thủ tướng?", "answers": [{"text": "Aliev"}], "is_impossible": True},
        {"id": "q2", "question": "Ai đắc cử?", "answers": [{"text": "Aliev"}, {"text": "Aliev"}]}],
        title="Chiến_tranh.", context="Ngắn gọn")), encoding="utf-8")
    dataset = load_dataset(path)
    assert [q.answers for q in dataset.questions] == [(), ("Aliev",)]
    document = dataset.documents[0]
    assert document.title == "Chiến tranh" and document.name == "0000_Chiến_tranh.txt"
    assert document.paragraphs == ("Ngắn gọn.",)  # a short line would otherwise be read as a heading
