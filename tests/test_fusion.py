"""Fusion, retrieval settings saved with the index, sentence windows, short-answer segments and quote windows:
the pure parts of retrieval and answers, checked on hand-made inputs."""

import numpy as np
import pytest

from qa import InvalidArgumentError
from qa.answer.segments import best_segment, capitalised_run, quote_window
from qa.retrieval.fusion import fuse, scale_lexical
from qa.documents.passages import sentence_windows
from qa.settings import FusionSettings, RetrievalSettings


def test_convex_fusion_weights_each_signal_and_the_lexical_weight_follows_the_language():
    dense, sentence, lexical = np.array([0.8, 0.7]), np.array([0.9, 0.6]), np.array([0.0, 1.0])
    same = np.array([True, False])
    settings = FusionSettings(dense_weight=0.4, sentence_weight=0.6, lexical_weight_same_language=0.1,
                              lexical_weight_cross_language=0.02)
    fused = fuse(dense, sentence, lexical, same, settings)
    np.testing.assert_allclose(fused, [0.4 * 0.8 + 0.6 * 0.9, 0.4 * 0.7 + 0.6 * 0.6 + 0.02])


def test_rrf_ignores_scales_and_a_passage_bm25_never_matched_gets_no_lexical_share():
    dense, sentence = np.array([0.9, 0.1, 0.5]), np.array([0.9, 0.1, 0.5])
    lexical = np.array([0.0, 1.0, 0.5])
    settings = FusionSettings(mode="rrf", dense_weight=1, sentence_weight=1, lexical_weight_same_language=1,
                              rrf_k=1)
    fused = fuse(dense, sentence, lexical, np.array([True, True, True]), settings)
    # ranks: dense/sentence 1, 3, 2; lexical 3 (but zero → no share), 1, 2
    np.testing.assert_allclose(fused, [2 / 2, 2 / 4 + 1 / 2, 2 / 3 + 1 / 3])
    assert fuse(dense * 100, sentence * 100, lexical, np.array([True] * 3), settings) == pytest.approx(fused)


def test_lexical_scores_scale_to_the_question_or_to_the_best_candidate():
    # "question": the share of what the question can score, so a weak best match stays weak
    np.testing.assert_allclose(scale_lexical(np.array([2.0, 1.0, 0.0]), attainable=8.0), [0.25, 0.125, 0.0])
    np.testing.assert_allclose(scale_lexical(np.array([2.0, 1.0]), attainable=0.0), np.zeros(2))
    # "best": the best candidate gets 1 however little it matched
    np.testing.assert_allclose(scale_lexical(np.array([2.0, 1.0, 0.0])), [1.0, 0.5, 0.0])
    np.testing.assert_allclose(scale_lexical(np.zeros(3)), np.zeros(3))


def test_the_attainable_score_is_what_an_average_passage_holding_each_question_token_once_scores():
    from qa.store.lexical import LexicalIndex
    from qa.text import lexical_tokens

    texts = ["the cat sat on the mat", "a dog ran in the park", "the cat and the dog met"]
    index = LexicalIndex.build(texts)
    question = "cat park"
    expected = sum(index.idf(t) for t in dict.fromkeys(lexical_tokens(question)))
    assert index.attainable(question) == pytest.approx(expected) and expected > 0
    # a token no passage holds counts as the rarest: a question that asks more than the corpus holds scores lower
    assert index.attainable("cat zebra") > index.attainable("cat")
    # a passage of average length holding each token once scores exactly that
    average = LexicalIndex.build(["cat park x y z", "dog one two three four", "cat fish g h k"])
    assert average.scores("cat park")[0] == pytest.approx(average.attainable("cat park"), rel=1e-5)


def test_settings_round_trip_and_bad_settings_are_refused():
    settings = RetrievalSettings(candidates=20, fusion=FusionSettings(mode="rrf", rrf_k=10))
    assert RetrievalSettings.from_dict(settings.to_dict()) == settings
    assert RetrievalSettings.from_dict(None) == RetrievalSettings() == RetrievalSettings.from_dict({})
    with pytest.raises(InvalidArgumentError, match="fusion mode"):
        FusionSettings(mode="max")
    with pytest.raises(InvalidArgumentError, match="≥ 0"):
        FusionSettings(dense_weight=-1)
    with pytest.raises(InvalidArgumentError, match="lexical scale"):
        FusionSettings(lexical_scale="max")
    assert RetrievalSettings.from_dict({"fusion": {"lexical_scale": "best"}}).fusion.lexical_scale == "best"
    with pytest.raises(InvalidArgumentError, match="Unknown fusion"):
        RetrievalSettings.from_dict({"fusion": {"wieght": 1}})
    with pytest.raises(InvalidArgumentError, match="candidates"):
        RetrievalSettings(candidates=0)


def test_long_paragraphs_become_overlapping_windows_of_whole_sentences():
    text = " ".join(f"S{i} " + "w " * 9 for i in range(6))  # six sentences of ten words
    spans, position = [], 0
    for i in range(6):
        start = text.index(f"S{i} ", position)
        end = start + len(f"S{i} " + "w " * 9) - 1
        spans.append((start, end))
        position = end
    assert sentence_windows(text, spans, max_words=100) == [spans]  # fits: the whole paragraph
    windows = sentence_windows(text, spans, max_words=30, overlap=1)
    assert windows == [spans[0:3], spans[2:5], spans[4:6]]  # each window repeats the last sentence of the one before
    assert sentence_windows(text, spans, max_words=5, overlap=1) == [[s] for s in spans]  # a long sentence alone


def test_short_answer_is_the_part_of_the_sentence_the_question_leaves_open():
    sentence = "Bá tước của Melfi là William Iron Arm, người đã chiến đấu ở Sicilia."
    assert best_segment(sentence, "Bá tước của Melfi là ai?", "who", True) == "William Iron Arm"
    sentence = "Trường được thành lập để đào tạo giáo viên cho các trường công lập của thành phố."
    assert best_segment(sentence, "Trường được thành lập để làm gì?", None, True) == \
        "đào tạo giáo viên cho các trường công lập"
    # across languages only names and numbers are shared; the capitalised run answers "who"
    assert best_segment("Năm 1066, Guillaume đã chinh phục nước Anh.", "Who conquered England in 1066?", "who",
                        False) == "Guillaume"
    # a capitalised word that only starts the sentence ("Ngày") is not the place asked for
    sentence = "Ngày 15 tháng 5, lãnh đạo các bên gặp mặt tại Moscow để ký hiệp định."
    assert capitalised_run(sentence) == "Moscow"
    assert capitalised_run("Aliev chính thức được bầu") == "Aliev" and capitalised_run("không có tên") is None


def test_a_long_sentence_is_quoted_by_its_clauses_around_the_answer():
    sentence = ("Đầu năm, quân đội tiến về phía bắc, vượt qua ba con sông lớn, chiếm được thành phố Ganja vào "
                "tháng 6, rồi dừng lại ở biên giới, nơi họ chờ viện binh suốt mùa đông dài.")
    start, end = quote_window(sentence, "Ganja", "Quân đội chiếm được thành phố nào?", max_words=12)
    quoted = sentence[start:end]
    assert "Ganja" in quoted and len(quoted.split()) <= 12 and quoted == quoted.strip(" ,")
    assert quote_window("Câu ngắn.", None, "Gì?", max_words=12) == (0, len("Câu ngắn."))
