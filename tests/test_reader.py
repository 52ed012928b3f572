"""The trained reader: windows, the ONNX model against its torch original, spans, and answers built from them."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from qa.reader.windows import Window, char_to_tokens, windows

ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------------------------------------------- windows

def test_windows_cover_every_context_token_with_the_stated_overlap():
    context_ids = np.arange(100, 1100, dtype=np.int64)
    from qa.reader.windows import TokenizedText

    context = TokenizedText(context_ids, np.stack([np.arange(1000), np.arange(1000) + 1], axis=1))
    question = np.array([7, 8, 9], dtype=np.int64)
    made = windows(question, context, cls=0, sep=2, max_tokens=384, overlap=128)
    covered = set()
    for window in made:
        assert len(window.ids) <= 384
        assert list(window.ids[:6]) == [0, 7, 8, 9, 2, 2] and window.ids[-1] == 2
        assert list(window.ids[window.context_at:window.context_at + window.count]) == \
            list(context_ids[window.first:window.first + window.count])
        covered |= set(range(window.first, window.first + window.count))
    assert covered == set(range(1000))
    for before, after in zip(made, made[1:]):
        assert before.first + before.count - after.first == 128


def test_token_span_only_inside_the_window():
    window = Window(np.zeros(20, dtype=np.int64), context_at=5, first=10, count=14)
    assert window.token_span(10, 12) == (5, 7)
    assert window.token_span(9, 12) is None and window.token_span(20, 24) is None


def test_characters_map_to_the_tokens_that_overlap_them():
    offsets = np.array([[0, 5], [5, 11], [11, 15]])  # "Hello", " world", " now"
    assert char_to_tokens(offsets, 6, 11) == (1, 1)
    assert char_to_tokens(offsets, 0, 15) == (0, 2)
    assert char_to_tokens(offsets, 15, 15) is None


def test_training_labels_every_occurrence_of_an_answer():
    from qa.reader.training import occurrences

    assert occurrences("Hà Nội và Hà Nội", "Hà Nội") == [(0, 6), (10, 16)]
    assert occurrences("abc", "") == []


def test_on_topic_unanswerable_passages_lose_every_sentence_holding_the_answer():
    from qa.reader.training import without_answer

    text = "Hà Nội là thủ đô. Dân số tăng nhanh. Năm 1010, Lý Thái Tổ dời đô về đây. Thành phố có nhiều hồ."
    assert without_answer(text, "1010") == "Hà Nội là thủ đô. Dân số tăng nhanh. Thành phố có nhiều hồ."
    assert without_answer("Một câu. Năm 1010 dời đô.", "1010") is None  # too little left to be a passage


def test_a_swapped_question_names_what_its_paragraph_never_mentions():
    import random

    from qa.reader.training import swapped_question

    context = "Lò Văn Khánh won the 42 km in 2025, ahead of Trần Anh."
    donors = ["The 21 km was held in Hà Nội in 2024.", "Khánh also ran in 2023."]
    seen = {swapped_question("Who won the 42 km in 2025?", context, donors, random.Random(seed)) for seed in range(20)}
    # a number the paragraph holds becomes one it does not; never a term it holds, never the question unchanged
    assert seen == {"Who won the 21 km in 2025?", "Who won the 2024 km in 2025?", "Who won the 2023 km in 2025?",
                    "Who won the 42 km in 21?", "Who won the 42 km in 2024?", "Who won the 42 km in 2023?"}
    # names swap for names: "Hà", "Nội" are the donors' names the paragraph lacks ("Khánh" it has)
    assert swapped_question("When did Khánh win?", context, donors, random.Random(0)) in {
        "When did Hà win?", "When did Nội win?"}
    assert swapped_question("Who won?", context, donors, random.Random(0)) is None  # nothing to swap
    assert swapped_question("Who won in 1999?", context, donors, random.Random(0)) is None  # 1999 is not in it


def test_only_translations_that_read_as_one_english_question_are_trained_on():
    from qa.reader.training import usable_translation

    assert usable_translation("Milloin Ulysses S. Grant kuoli?", "When did Ulysses S. Grant die?")
    assert usable_translation("Milloin Väinö Riikkilä kuoli?", "When did Väinö Riikkilä die?")  # Latin script
    assert not usable_translation("apa yang dimaksud dengan komunikasi satu arah?", "One-way communication")
    assert not usable_translation("Kapan B.A.P dibentuk?", "Kapan B.A.P dibentuk?")  # copied, not translated
    assert not usable_translation("베니치아의 인구는?", "베니치아의 인구는 몇 명입니까?")  # not English
    assert not usable_translation("Mikä on polaroidi?", "Here is the translation. " * 10 + "What is it?")


def test_written_passages_train_both_languages_and_refuse_an_answer_their_passage_lacks():
    from qa.reader.training import written_articles

    nfd = unicodedata.normalize("NFD", "Cầu Tân Lập dài 420 mét. Cầu khánh thành năm 2019.")
    rows = [{"kind": "news", "context": nfd, "qas": [
                {"id": "n1-a1", "vi": "Cầu dài bao nhiêu?", "en": "How long is the bridge?", "answer": "420 mét"},
                {"id": "n1-u1", "vi": "Ai xây cầu?", "en": "Who built the bridge?", "answer": None}]},
            {"kind": "manual", "context": "Nấu cơm trong 25 phút.", "qas": [
                {"id": "m1-a1", "vi": "Nấu bao lâu?", "en": "How long to cook?", "answer": "25 phút"}]}]
    (language, kind, paragraphs, questions), manual = written_articles(rows)
    assert (language, kind, manual[1]) == ("vietnamese", "news", "manual")  # one article per genre
    assert paragraphs == [unicodedata.normalize("NFC", nfd)]  # stored as documents are read: NFC
    assert questions == [(0, "Cầu dài bao nhiêu?", "420 mét", "n1-a1"), (0, "How long is the bridge?", "420 mét", "n1-a1:en"),
                         (0, "Ai xây cầu?", None, "n1-u1"), (0, "Who built the bridge?", None, "n1-u1:en")]
    documents = [dict(rows[0], doc="d1"), dict(rows[1], doc="d1"), dict(rows[1], doc="d2")]
    assert [len(article[2]) for article in written_articles(documents)] == [2, 1]  # a document's paragraphs together
    rows[1]["qas"][0]["answer"] = "30 phút"  # a typo would train the wrong span: refused, with the question named
    with pytest.raises(ValueError, match="m1-a1"):
        written_articles(rows)


@pytest.mark.parametrize("name", ["written-qa.jsonl", "written-qa-documents.jsonl", "translated-squad-documents.jsonl"])
def test_the_written_training_data_is_sound_and_holds_none_of_its_check(name):
    from qa.reader.training import written_articles

    root = Path(__file__).resolve().parents[1]
    rows = [json.loads(line) for line in (root / "scripts" / "data" / name).read_text("utf-8").splitlines()]
    articles = written_articles(rows)  # raises on an answer its passage lacks
    questions = [q for article in articles for q in article[3]]
    assert len({qid for *_, qid in questions}) == len(questions)  # ids unique
    for _, _, paragraphs, asked in articles:  # an answer occurs once: its span is unambiguous
        assert all(paragraphs[p].count(answer) == 1 for p, _, answer, _ in asked if answer is not None)
    answerable = sum(answer is not None for _, _, answer, _ in questions)
    assert answerable and len(questions) - answerable  # both kinds, in both languages
    trained = {p for article in articles for p in article[2]}
    for check in ("own_check_written", "own_check_documents"):
        docs = sorted((root / "tests" / "data" / check / "docs").glob("*.txt"))
        assert docs
        for doc in docs:
            paragraphs = unicodedata.normalize("NFC", doc.read_text("utf-8")).strip().split("\n\n")[1:]  # no title
            assert paragraphs
            for paragraph in paragraphs:
                assert not any(paragraph[:80] in p for p in trained)  # the check stays unseen


def test_the_translated_training_data_asks_squad_trains_own_questions():
    """Its English questions are SQuAD v1.1 train's, verbatim, each document's from one SQuAD train article: the
    translations come from the training set, never from SQuAD dev (which the dev benchmark was translated from).
    None has an English answer over 14 words: a clause the Vietnamese span would have to cut."""
    from qa.reader.training_set import SQUAD, TRAINING, read_squad_format

    if not (TRAINING / SQUAD).is_file():
        pytest.skip("../shared/training is not here")
    root = Path(__file__).resolve().parents[1]
    path = root / "scripts" / "data" / "translated-squad-documents.jsonl"
    rows = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
    article_of: dict[str, set[str]] = {}
    longest: dict[str, int] = {}  # the question's longest English answer, in words
    for _, title, _, questions in read_squad_format(TRAINING / SQUAD):
        for _, question, answer, _ in questions:
            article_of.setdefault(question, set()).add(title)
            longest[question] = max(longest.get(question, 0), len(answer.split()))
    answerable = [(row["doc"], qa["en"]) for row in rows for qa in row["qas"] if qa["answer"] is not None]
    assert len(answerable) == 3217 and all(question in article_of for _, question in answerable)
    assert all(longest[question] <= 14 for _, question in answerable)  # no clause-long answer, cut in Vietnamese
    for doc in {doc for doc, _ in answerable}:  # one document, one SQuAD train article
        assert set.intersection(*(article_of[q] for d, q in answerable if d == doc))
    dev = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "xquad-dev" / "xquad-dev.en.json"
    if dev.is_file():  # and none of the dev benchmark's questions
        asked = {qa["question"] for a in json.loads(dev.read_text("utf-8"))["data"] for p in a["paragraphs"]
                 for qa in p["qas"]}
        assert not asked & {question for _, question in answerable}


def test_each_written_file_gets_its_own_licence_on_the_card(tmp_path):
    from qa.reader.training_set import written_source

    data = Path(__file__).resolve().parents[1] / "scripts" / "data"
    assert "CC BY-SA 4.0" in written_source(data / "translated-squad-documents.jsonl")[1]  # SQuAD's, translated
    assert written_source(data / "written-qa.jsonl")[1].startswith("MIT")
    assert written_source(data / "written-qa-documents.jsonl")[1].startswith("MIT")
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text(json.dumps({"kind": "translated"}) + "\n" + json.dumps({"kind": "news"}) + "\n", "utf-8")
    with pytest.raises(ValueError, match="licences differ"):
        written_source(mixed)


def test_training_windows_label_every_occurrence_and_unanswerable_pairs():
    from tokenizers import Tokenizer

    from qa.reader.training import Example, featurize

    from qa.embedding.default_model import prepare_default_model

    tokenizer = Tokenizer.from_file(str(prepare_default_model() / "tokenizer.json"))
    examples = [Example("t", "vi", "Hà Nội là thủ đô. Dân số Hà Nội tăng nhanh.", "Thủ đô là thành phố nào?",
                        "Hà Nội"),
                Example("t", "vi", "Trời hôm nay mưa to.", "Thủ đô là thành phố nào?", None)]
    (answerable, unanswerable), counts = featurize(examples, tokenizer)
    assert len(answerable.starts) == 2 and len(answerable.ends) == 2 and 0 not in answerable.starts
    assert unanswerable.starts == (0,) and unanswerable.ends == (0,)  # "no answer" is the <s> token
    assert counts["answer occurs more than once"] == 1


# ---------------------------------------------------------------------------------------------- the model

@pytest.fixture(scope="module")
def reader():
    from qa.reader import load_reader

    loaded = load_reader()
    if loaded is None:
        pytest.fail("the shipped reader could not be loaded (make model prepares it)")
    return loaded


@pytest.fixture(scope="module", params=["fp32", "int8"])
def each_reader(request):
    """The reader as each of its graphs: fp32 (the default) and int8 ($QA_READER_PRECISION=int8)."""
    from qa.reader import load_reader

    return load_reader(precision=request.param)


def test_the_default_graph_is_fp32_and_the_setting_picks_another_or_refuses(monkeypatch):
    from qa import AnswerSettings, InvalidArgumentError
    from qa.reader import load_reader
    from qa.reader.model import FP32_FILE, MODEL_FILE

    monkeypatch.delenv("QA_READER_PRECISION", raising=False)
    default = load_reader()
    assert default.model_file.name == FP32_FILE and default.precision == "fp32"
    monkeypatch.setenv("QA_READER_PRECISION", "int8")
    assert load_reader().model_file.name == MODEL_FILE
    assert load_reader(precision="fp32") is default
    monkeypatch.setenv("QA_READER_PRECISION", "fp16")
    with pytest.raises(InvalidArgumentError, match=r"\$QA_READER_PRECISION must be one of fp32, int8"):
        load_reader()
    with pytest.raises(InvalidArgumentError, match="reader_precision must be one of"):
        AnswerSettings(reader_precision="bf16")


@pytest.mark.slow
def test_onnx_reader_matches_its_torch_original(each_reader):
    """Each graph `qa` can run picks the same spans as the torch model it was exported from."""
    import torch

    from qa.embedding.default_model import prepare_default_model
    from qa.reader.export import load_torch_reader
    from qa.trained import TRAINED_WEIGHTS
    from qa.reader.model import best_span

    module = load_torch_reader(prepare_default_model(), TRAINED_WEIGHTS)
    question = "Lệnh ngừng bắn được ký ở đâu?"
    texts = ["Ngày 15 tháng 5, lãnh đạo các bên gặp mặt tại Moskva để ký hiệp định ngừng bắn.",
             "The treaty was signed in Paris in 1951 by six countries, after two years of talks."]
    from qa.reader.windows import question_ids, tokenize

    asked = question_ids(each_reader.tokenizer, question)
    for context in tokenize(each_reader.tokenizer, texts):
        window = windows(asked, context, each_reader.cls, each_reader.sep)[0]
        with torch.no_grad():
            start, end = module(torch.tensor([window.ids]), torch.ones(1, len(window.ids), dtype=torch.long))
        onnx_start, onnx_end = each_reader.logits([window.ids])
        assert best_span(onnx_start[0], onnx_end[0], window)[:2] == best_span(start[0].numpy(), end[0].numpy(),
                                                                                window)[:2]
        assert np.corrcoef(onnx_start[0], start[0].numpy())[0, 1] > 0.99


def test_spans_point_into_the_text_without_edge_punctuation(reader):
    texts = ["Hiệp định được ký tại Moskva vào năm 1994.", "", "Trời hôm nay đẹp."]
    spans = reader.read("Hiệp định được ký ở thành phố nào?", texts)
    assert spans[1] is None
    first = spans[0]
    assert first is not None and first.text == 0
    short = texts[0][first.start:first.end]
    assert short == short.strip(" .,") and "Moskva" in short
    assert first.lead > spans[2].lead  # the passage that answers beats the one that does not


def test_a_passage_reads_the_same_whatever_else_is_read_with_it(each_reader):
    """The int8 graph quantises activations per run: were windows batched, a passage's scores (and so the answer)
    would change with the other passages retrieved beside it (up to a logit, measured)."""
    reader = each_reader
    question = "Lệnh ngừng bắn được ký ở đâu?"
    answer = ("Ngày 15 tháng 5, lãnh đạo các bên gặp mặt tại Moskva để ký hiệp định ngừng bắn sau nhiều tháng "
              "giao tranh.")
    others = ["Đường biên sau cuộc xung đột khi lệnh ngưng bắn năm 1994 được ký kết, hàng trăm nghìn người phải rời bỏ "
              "nhà cửa và nhiều làng mạc bị phá hủy hoàn toàn trong các chiến dịch mùa đông kéo dài. " * 3,
              "The treaty was signed in Paris in 1951 by six countries.", "Trời hôm nay đẹp."]
    alone = reader.read(question, [answer])[0]
    for other in others:
        for texts, at in (([answer, other], 0), ([other, answer], 1), ([other, answer, other], 1)):
            assert reader.read(question, texts)[at] == dataclasses.replace(alone, text=at)


def test_a_long_passage_is_read_in_windows(reader):
    filler = "Đây là một câu không liên quan đến câu hỏi. " * 120
    text = filler + "Thủ đô của nước Úc là Canberra. " + filler
    [span] = reader.read("Thủ đô của Úc là gì?", [text])
    assert span is not None and "Canberra" in text[span.start:span.end]


# ---------------------------------------------------------------------------------------------------- answers

@pytest.fixture(scope="module")
def assistant(retriever):
    from qa import Assistant

    return Assistant(retriever)


@pytest.mark.slow
def test_the_showcase_question_answers_moscow_with_its_citation(assistant, retriever):
    answer = assistant.ask("In which city was the ceasefire signed?")
    assert answer.answered and answer.backend == "reader"
    assert answer.short_answer in ("Moscow", "Moskva") and answer.answer.startswith(f"**{answer.short_answer}**")
    text = retriever.store.document_text(answer.citations[0].document)
    assert text[answer.short_span.start:answer.short_span.end] == answer.short_answer
    citation = answer.citations[0]
    assert text[citation.start:citation.end] == citation.quote
    assert citation.start <= answer.short_span.start < answer.short_span.end <= citation.end


@pytest.mark.slow
def test_the_reader_reads_as_deep_as_its_calibration_was_fitted(assistant, retriever):
    from qa.answer.reading import ReaderCalibration

    fitted = ReaderCalibration.for_model(retriever.embedder.name)
    result = retriever.retrieve("Lệnh ngưng bắn được ký ở đâu?", k=10)
    assert assistant.answerer.passages == fitted.passages
    assert [c.hit.rank for c in assistant.answerer.read(result)] == list(range(1, fitted.passages + 1))


@pytest.mark.slow
def test_json_has_the_span_offsets(assistant):
    data = assistant.ask("Lãnh đạo các bên gặp nhau ở đâu để ký hiệp định ngưng bắn?").to_dict()
    assert data["short_span"]["marker"] == 1
    assert set(data["short_span"]) == {"marker", "document", "start", "end"}
    assert data["short_span"]["end"] > data["short_span"]["start"]


@pytest.mark.slow
def test_a_one_passage_index_does_not_answer_everything(tmp_path, embedder):
    from qa import Assistant, Retriever, build_index

    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "note.txt").write_text("Team notes\n\nThe quarterly report is due on Friday. Maria will collect the "
                                    "figures from the sales team and send the draft to Tom before noon.\n",
                                    encoding="utf-8")
    build_index(seeds, tmp_path / "index", embedder=embedder)
    assistant = Assistant(Retriever.load(tmp_path / "index", embedder=embedder))
    assert not assistant.ask("Thủ đô của Úc là gì?").answered
    assert not assistant.ask("What is the capital of Australia?").answered
    answered = assistant.ask("Who will collect the figures?")
    assert answered.answered and "Maria" in answered.short_answer


def test_vietnamese_questions_over_english_text_are_answered_and_refused_on_their_own_threshold(tmp_path, embedder):
    """A Vietnamese question over English documents has its own threshold: the shared one refused most of them."""
    from qa import Assistant, Retriever, build_index

    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "harbour.txt").write_text("Harbour notes\n\nThe harbour of Port Elling was rebuilt in 1931 after a storm "
                                       "destroyed the old pier. The new pier is 420 metres long and was designed by "
                                       "the engineer Mara Lindqvist.\n", encoding="utf-8")
    build_index(seeds, tmp_path / "index", embedder=embedder)
    assistant = Assistant(Retriever.load(tmp_path / "index", embedder=embedder))
    for question, expected in (("Bến cảng được xây dựng lại vào năm nào?", "1931"),
                               ("Ai thiết kế cầu tàu mới?", "Mara Lindqvist")):
        answer = assistant.ask(question)
        assert answer.answered and expected in answer.short_answer, (question, answer.confidence)
        assert answer.answer.startswith(f"**{answer.short_answer}** — theo tài liệu:")
    for question in ("Thủ đô của Úc là gì?", "Bến cảng có bao nhiêu tàu cá?"):
        assert not assistant.ask(question).answered, question


def test_in_a_mixed_language_index_each_question_is_answered_from_the_document_holding_its_fact(tmp_path, embedder):
    """Two look-alike notes, one per language, with different facts: the per-direction weights must not pull a
    Vietnamese question to the English note (or back) when its own language's note answers it."""
    from qa import Assistant, Retriever, build_index

    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "ben-cang.txt").write_text(
        "Ghi chép bến cảng\n\nBến cảng Phước An được xây dựng lại vào năm 1958 sau khi một cơn bão phá hủy cầu tàu "
        "cũ. Cầu tàu mới dài 380 mét và do kỹ sư Trần Văn Lộc thiết kế.\n", encoding="utf-8")
    (seeds / "harbour.txt").write_text(
        "Harbour notes\n\nThe harbour of Port Elling was rebuilt in 1931 after a storm destroyed the old pier. The new "
        "pier is 420 metres long and was designed by the engineer Mara Lindqvist.\n", encoding="utf-8")
    build_index(seeds, tmp_path / "index", embedder=embedder)
    assistant = Assistant(Retriever.load(tmp_path / "index", embedder=embedder))
    asked = (("Bến cảng Phước An được xây dựng lại vào năm nào?", "1958", "ben-cang.txt"),
             ("Ai thiết kế cầu tàu mới ở Phước An?", "Trần Văn Lộc", "ben-cang.txt"),
             ("How long is the new pier at Port Elling?", "420", "harbour.txt"),
             ("Ai thiết kế cầu tàu ở Port Elling?", "Mara Lindqvist", "harbour.txt"))
    for question, expected, document in asked:
        answer = assistant.ask(question)
        assert answer.answered and expected in answer.short_answer, (question, answer.short_answer)
        assert answer.citations[0].document == document


@pytest.mark.slow
def test_another_embedding_model_gets_the_model_free_calibration(tmp_path):
    """Abstention fitted on one model's cosine scale must not be applied to another's."""
    from qa import Assistant, Embedder, Retriever, build_index

    minilm = Embedder.load("sentence-transformers/all-MiniLM-L6-v2")
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "city.txt").write_text("Harbour city\n\nThe old lighthouse of Port Elm was built in 1887 by the "
                                    "engineer Ada Reyes. It stands 42 metres tall on the northern cliff.\n",
                                    encoding="utf-8")
    build_index(seeds, tmp_path / "index", embedder=minilm)
    assistant = Assistant(Retriever.load(tmp_path / "index", embedder=minilm))
    assert assistant.answerer.calibration.model == "*"
    answer = assistant.ask("Who built the lighthouse?")
    assert answer.answered and "Ada Reyes" in answer.short_answer


def test_the_fp32_session_holds_no_prepacked_copy_and_the_int8_one_keeps_it(each_reader):
    """Prepacking keeps a second copy of the fp32 weights (40 MiB of a cold `qa ask`); the int8 kernels choose other
    spans without it, so that graph keeps it (README, "Memory: the fp32 session without prepacking")."""
    options = each_reader.session.get_session_options()
    if each_reader.precision == "fp32":
        assert options.get_session_config_entry("session.disable_prepacking") == "1"
    else:
        with pytest.raises(RuntimeError):  # not set: ONNX Runtime's default, prepacking on
            options.get_session_config_entry("session.disable_prepacking")


def test_word_vectors_are_read_by_row_exactly_as_numpy_holds_them(tmp_path):
    """The reader's table read row by row equals the array numpy saved, repeated and unsorted ids included, and a
    token id past the table is an error, not another token's vector."""
    from qa.reader.vectors import WordVectors

    table = np.random.default_rng(0).standard_normal((1000, 24)).astype(np.float16)
    np.save(tmp_path / "table.npy", table)
    vectors = WordVectors(tmp_path / "table.npy")
    ids = np.array([0, 999, 17, 17, 3, 0, 512])
    read = vectors.rows(ids)
    assert read.dtype == np.float32 and read.shape == (7, 24)
    assert np.array_equal(read, table[ids].astype(np.float32))
    with pytest.raises(IndexError):
        vectors.rows(np.array([5, 1000]))
    np.save(tmp_path / "cube.npy", np.zeros((2, 2, 2), dtype=np.float16))
    with pytest.raises(ValueError, match="2-D"):
        WordVectors(tmp_path / "cube.npy")
    vectors.close()


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the process's peak from /proc")
def test_qa_ask_with_the_reader_imports_no_torch_and_stays_within_350_mib(seed_index):
    """A cold `qa ask` answers with the reader without torch, its peak memory within the issue's 350 MiB (up to 380
    MiB while the fp32 session prepacked its weights, and up to 368 while the word vectors were memory-mapped: README,
    "Memory")."""
    code = ("import sys, runpy; sys.argv = ['qa', 'ask', 'Ai đắc cử Tổng thống năm 1993?', '--index', "
            f"{str(seed_index)!r}, '--json']\n"
            "try:\n    runpy.run_module('qa', run_name='__main__')\nexcept SystemExit:\n    pass\n"
            "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH')\n"
            "print(next(line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    lines = out.stdout.strip().splitlines()
    assert len(lines) >= 3 and lines[-2] == "NO-TORCH", out.stderr
    assert json.loads(lines[0])["backend"] == "reader"
    peak_mib = int(lines[-1]) / 1024  # VmHWM: this process's own peak (a new one from exec), in kB
    assert peak_mib <= 350, f"cold qa ask peaked at {peak_mib:.0f} MiB"


@pytest.mark.slow
def test_a_bad_reader_precision_is_a_clear_error_on_the_command_line(seed_index):
    out = subprocess.run([sys.executable, "-m", "qa", "ask", "Ai đắc cử Tổng thống năm 1993?", "--index",
                          str(seed_index)], capture_output=True, text=True, cwd=ROOT, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT), "QA_READER_PRECISION": "fp16"})
    assert out.returncode == 2 and out.stdout == "" and "Traceback" not in out.stderr
    assert "$QA_READER_PRECISION must be one of fp32, int8 (the reader's graph), got 'fp16'." in out.stderr
