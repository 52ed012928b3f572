"""Retrieval on the seed: the bilingual gold set, cited hits, bad input."""

import pytest

from conftest import load_gold
from qa import InvalidArgumentError, InvalidQuestionError, MAX_QUESTION_CHARS
from qa.settings import FusionSettings

pytestmark = pytest.mark.slow

# Floors a change must not fall below; the measured rates are printed by the test (pytest -s).
FLOORS = {"vi": {"top1": 0.9, "top3": 0.95}, "en": {"top1": 0.85, "top3": 0.9}}


def hit_rates(retriever, rows):
    ranks = []
    for row in rows:
        hits = retriever.search(row["question"], k=3)
        ranks.append(next((h.rank for h in hits if row["answer"] in h.text), None))
    n = len(ranks)
    return sum(r == 1 for r in ranks) / n, sum(r is not None for r in ranks) / n


@pytest.mark.parametrize("language", ["vi", "en"])
def test_gold_set_top1_and_top3(retriever, language):
    rows = [r for r in load_gold() if r["answer"] is not None and r["language"] == language]
    assert len(rows) >= 25
    top1, top3 = hit_rates(retriever, rows)
    print(f"\n[{language}] gold questions: {len(rows)}  top-1 {top1:.3f}  top-3 {top3:.3f}")
    assert top1 >= FLOORS[language]["top1"]
    assert top3 >= FLOORS[language]["top3"]


def test_hits_carry_citations_that_point_into_the_document(retriever):
    result = retriever.retrieve("Hiệp định ngừng bắn được ký ở đâu?", k=3)
    assert result.language == "vi"
    assert [h.rank for h in result.hits] == [1, 2, 3]
    assert result.hits[0].score >= result.hits[1].score >= result.hits[2].score
    text = retriever.store.document_text("000_ae2b548a11784ba7.txt")
    for hit in result.hits:
        c = hit.citation
        assert c.title == "Các cuộc xung đột 1993–1994 Chiến tranh Nagorno-Karabakh"
        source = text[c.start:c.end]
        assert hit.text.split()[0] in source and hit.text.split()[-1].strip(".") in source
    assert "Moscow" in result.hits[0].text


def test_english_question_finds_the_vietnamese_passage(retriever):
    result = retriever.retrieve("Which city did the leaders meet in to sign the ceasefire?", k=1)
    assert result.language == "en"
    assert "Moscow" in result.hits[0].text
    assert result.hits[0].scores.lexical_weight == FusionSettings().lexical_weight_cross_language


# Written for this test: one English document, and two Vietnamese ones on other topics that share the questions'
# everyday words ("mỗi", "của", "buổi sáng", "bảy giờ") but not their subject.
MARKET = """The Cai Rang floating market is held every morning on the Hau River near Can Tho. Traders sell fruit and \
vegetables from their boats, and each boat hangs a sample of its goods from a tall bamboo pole so that buyers can see \
from afar what it sells.

The market began in the early twentieth century, when the delta had few roads and the rivers carried most of its \
trade. Today most of the buying is done before eight o'clock, after which the boats return to the villages upstream.
"""
LIBRARY = """Thư viện thành phố được xây dựng vào năm 1998 ở trung tâm. Mỗi buổi sáng, thư viện mở cửa lúc bảy giờ và \
người dân có thể mượn sách của thư viện mang về nhà trong hai tuần.

Mỗi năm thư viện mua thêm khoảng ba nghìn cuốn sách mới. Các cuốn sách được xếp trên những chiếc giá cao để người đọc \
có thể nhìn thấy từ xa.
"""
SCHOOL = """Trường tiểu học của làng được mở vào năm 1975. Mỗi buổi sáng, học sinh đến trường bằng xe đạp hoặc đi bộ, \
và các lớp học bắt đầu lúc bảy giờ rưỡi.

Trường có mười hai lớp học và một sân chơi rộng. Mỗi lớp treo một tấm bảng ở phía trước để học sinh có thể nhìn thấy \
bài học của mình.
"""


def test_a_fact_only_in_english_is_found_first_though_vietnamese_text_shares_the_question_words(tmp_path, embedder):
    """A bilingual index where each fact is in one language: BM25 must not hand Vietnamese passages on another
    topic a bonus for the question's everyday words (it did when BM25 was scaled by the best candidate; README,
    "Each fact in one language")."""
    from qa import Retriever, build_index
    from qa.embedding.embeddings import query_encoder

    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for name, text in (("market.txt", MARKET), ("thuvien.txt", LIBRARY), ("truonghoc.txt", SCHOOL)):
        (seeds / name).write_text(text, encoding="utf-8")
    build_index(seeds, tmp_path / "index", embedder=embedder)
    retriever = Retriever.load(tmp_path / "index", embedder=query_encoder(embedder))
    firsts = []
    for question in ("Mỗi chiếc thuyền treo mẫu hàng hóa của mình ở đâu?", "Chợ nổi Cái Răng họp vào lúc nào?",
                     "Phần lớn việc mua bán ở chợ xong trước mấy giờ?", "Chợ bắt đầu có từ khi nào?",
                     "Người bán hàng bán gì từ thuyền của họ?"):
        documents = [hit.citation.document for hit in retriever.search(question, k=2)]
        assert "market.txt" in documents, question  # the old rule put it third for three of them
        firsts.append(documents[0] == "market.txt")
    # first for all but at most one: "Chợ bắt đầu có từ khi nào?" shares a real word, "bắt đầu" (begin), with the
    # school's "các lớp học bắt đầu", and the shipped weights let it win by 0.006 (README, "BM25 on the question's
    # scale"); the old rule put the school or the library first for all five
    assert sum(firsts) >= 4, firsts
    # the same words still find a Vietnamese fact in Vietnamese text
    assert retriever.search("Thư viện mở cửa lúc mấy giờ?", k=1)[0].citation.document == "thuvien.txt"
    assert retriever.search("Trường tiểu học được mở vào năm nào?", k=1)[0].citation.document == "truonghoc.txt"


def test_json_shape(retriever):
    data = retriever.retrieve("Ai được bầu làm Tổng thống?", k=2).to_dict()
    assert set(data) == {"query", "language", "index_version", "hits"}
    assert data["index_version"] == retriever.store.version != ""
    hit = data["hits"][0]
    assert {"rank", "score", "passage_id", "text", "citation"} <= set(hit)
    assert set(hit["citation"]) == {"document", "title", "section", "paragraph", "start", "end", "page"}


@pytest.mark.parametrize("question", ["", "   \n\t", "x" * (MAX_QUESTION_CHARS + 1)])
def test_bad_questions_are_refused(retriever, question):
    with pytest.raises(InvalidQuestionError):
        retriever.search(question)


@pytest.mark.parametrize("k", [0, -1, 51, "3"])
def test_bad_k_is_refused(retriever, k):
    with pytest.raises(InvalidArgumentError):
        retriever.search("Ai?", k=k)


def test_k_larger_than_the_corpus_returns_every_passage(retriever):
    assert len(retriever.search("chiến tranh", k=50)) == len(retriever.passages)


def test_decomposed_unicode_asks_the_same_question(retriever):
    import unicodedata

    composed = "Hiệp định ngừng bắn được ký ở đâu?"
    decomposed = unicodedata.normalize("NFD", composed)
    assert decomposed != composed
    a, b = retriever.retrieve(composed, k=3), retriever.retrieve(decomposed, k=3)
    assert b.query == composed
    assert [h.passage_id for h in a.hits] == [h.passage_id for h in b.hits]
    assert [h.score for h in a.hits] == pytest.approx([h.score for h in b.hits])
