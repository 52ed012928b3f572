import warnings

import pytest

from qa import SeedsNotFoundError, SkippedDocumentWarning, read_documents
from qa.documents.reading import document_blocks, document_title, is_heading
from qa.documents.passages import ChunkingSettings, split_document, split_documents
from qa.text import clean_text

from conftest import SEEDS


def test_seed_document_title_language_and_headings():
    [document] = read_documents(SEEDS)
    assert document.name == "000_ae2b548a11784ba7.txt"
    assert document.title == "Các cuộc xung đột 1993–1994 Chiến tranh Nagorno-Karabakh"
    assert document.language == "vi"
    headings = [document.text[b.start:b.end] for b in document_blocks(document.text) if b.kind == "heading"]
    assert headings == ["Lệnh ngưng bắn 1994"]


def test_every_passage_and_sentence_span_reproduces_its_source():
    documents = read_documents(SEEDS)
    texts = {d.name: d.text for d in documents}
    passages = split_documents(documents)
    assert passages
    for passage in passages:
        source = texts[passage.document][passage.start:passage.end]
        assert source.strip() == source and source
        for sentence in passage.sentences:
            assert passage.start <= sentence.start < sentence.end <= passage.end
            assert "[" + "15]" not in sentence.text
        # the cleaned text is the source minus reference markers
        from qa.text import clean_text
        assert passage.text == clean_text(source)


def test_seed_passages_carry_sections_paragraphs_and_references():
    passages = split_documents(read_documents(SEEDS))
    first = passages[0]
    assert first.references == ("15", "16") and "[15]" not in first.text
    assert first.section is None and first.paragraph == 1
    after_heading = [p for p in passages if p.section == "Lệnh ngưng bắn 1994"]
    assert after_heading and all(p.paragraph >= 6 for p in after_heading)
    assert len({p.id for p in passages}) == len(passages)


def test_passage_ids_are_stable_across_runs():
    first = [p.id for p in split_documents(read_documents(SEEDS))]
    second = [p.id for p in split_documents(read_documents(SEEDS))]
    assert first == second


def test_long_paragraphs_are_cut_at_sentence_boundaries(tmp_path):
    sentence = "Đây là một câu khá dài về lịch sử của vùng đất này và con người nơi đây. "
    (tmp_path / "long.txt").write_text("Tiêu đề\n\n" + sentence * 40, encoding="utf-8")
    [document] = read_documents(tmp_path)
    passages = split_document(document, ChunkingSettings(max_words=50))
    assert len(passages) > 1
    assert all(len(p.text.split()) <= 50 for p in passages)
    assert {p.paragraph for p in passages} == {1}
    assert passages[0].id.endswith("#1.1") and passages[1].id.endswith("#1.2")
    for p in passages:
        assert p.text == " ".join(s.text for s in p.sentences)


def test_bad_files_are_skipped_with_a_warning_naming_them(tmp_path):
    (tmp_path / "good.md").write_text("# Good\n\nA real paragraph here.", encoding="utf-8")
    (tmp_path / "empty.txt").write_text("  \n", encoding="utf-8")
    (tmp_path / "latin1.txt").write_bytes("Tiếng Việt".encode("utf-8")[:-1] + b"\xff\xfe")
    (tmp_path / "ignored.rtf").write_bytes(b"{\\rtf1 not a supported format}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        documents = read_documents(tmp_path)
    assert [d.name for d in documents] == ["good.md"]
    messages = sorted(str(w.message) for w in caught if issubclass(w.category, SkippedDocumentWarning))
    assert len(messages) == 2
    assert "empty.txt" in messages[0] and "latin1.txt" in messages[1] and "UTF-8" in messages[1]


def test_markdown_title_and_headings(tmp_path):
    (tmp_path / "a.md").write_text("# My Title\n\n## Background\n\nFirst paragraph.\n\nSecond one.\n",
                                   encoding="utf-8")
    [document] = read_documents(tmp_path)
    assert document.title == "My Title"
    passages = split_document(document)
    assert [(p.section, p.paragraph, p.text) for p in passages] == [
        ("Background", 1, "First paragraph."), ("Background", 2, "Second one.")]


def test_markdown_headings_without_blank_lines_are_headings_not_quoted_text(tmp_path):
    # CommonMark needs no blank line after `## Heading`; such a line must not become the paragraph's first words
    (tmp_path / "a.md").write_text(
        "# Bảo hành\n## Thời hạn\nMáy được bảo hành 24 tháng.\n### Lõi lọc\nLõi lọc không được bảo hành.\n"
        "Giá lõi là 85.000 đồng.\n#1 là lõi PP, không phải tiêu đề.\n", encoding="utf-8")
    [document] = read_documents(tmp_path)
    assert document.title == "Bảo hành"
    passages = split_document(document)
    assert [(p.section, p.text) for p in passages] == [
        ("Thời hạn", "Máy được bảo hành 24 tháng."),
        ("Thời hạn › Lõi lọc", "Lõi lọc không được bảo hành. Giá lõi là 85.000 đồng. #1 là lõi PP, không phải tiêu đề.")]
    for passage in passages:
        assert document.text[passage.start:passage.end].replace("\n", " ") == passage.text


def test_a_plain_text_heading_on_the_line_above_its_text_names_the_section_and_is_never_quoted_with_it(tmp_path):
    # Regulations, contracts and manuals saved as .txt put each article's heading right above its text
    (tmp_path / "quy-che.txt").write_text(
        "Quy chế sử dụng phòng thí nghiệm\n\nChương I\n\n"
        "Điều 1. Giờ làm việc\nPhòng thí nghiệm mở cửa từ 7 giờ đến 17 giờ các ngày trong tuần, trừ ngày lễ. "
        "Ngoài giờ đó, phòng chỉ mở khi có giáo viên phụ trách đi cùng.\n\n"
        "Điều 2. Hóa chất\nHóa chất được cất trong tủ có khóa ở cuối phòng, cách xa nguồn nhiệt.\n", encoding="utf-8")
    [document] = read_documents(tmp_path)
    passages = split_document(document)
    assert [(p.section, [s.text for s in p.sentences]) for p in passages] == [
        ("Chương I › Điều 1. Giờ làm việc", [
            "Điều 1. Giờ làm việc",
            "Phòng thí nghiệm mở cửa từ 7 giờ đến 17 giờ các ngày trong tuần, trừ ngày lễ.",
            "Ngoài giờ đó, phòng chỉ mở khi có giáo viên phụ trách đi cùng."]),
        ("Chương I › Điều 2. Hóa chất", [
            "Điều 2. Hóa chất", "Hóa chất được cất trong tủ có khóa ở cuối phòng, cách xa nguồn nhiệt."])]
    # the heading stays in the passage's text (it is embedded and searched with it), and spans stay exact
    assert passages[0].text.startswith("Điều 1. Giờ làm việc Phòng thí nghiệm")
    for passage in passages:
        for sentence in passage.sentences:
            assert clean_text(document.text[sentence.start:sentence.end]) == sentence.text


def test_a_document_without_a_title_line_uses_its_file_name(tmp_path):
    body = "This whole first line is a long paragraph that ends with a period. " * 4
    (tmp_path / "no_title_here.txt").write_text(body.strip(), encoding="utf-8")
    [document] = read_documents(tmp_path)
    assert document.title == "no title here"
    assert split_document(document)[0].paragraph == 1


def test_heading_rules():
    assert is_heading("Lệnh ngưng bắn 1994")
    assert not is_heading("Sau sáu năm chiến tranh ác liệt, cả hai phía đều đã sẵn sàng ký lệnh ngưng bắn.")
    assert document_title("x.txt", "Chiến_tranh_Nagorno-Karabakh\n\nBody.") == "Chiến tranh Nagorno-Karabakh"


def test_missing_seeds_folder_is_a_clear_error(tmp_path):
    with pytest.raises(SeedsNotFoundError, match="not found"):
        read_documents(tmp_path / "nope")


def test_a_file_saved_decomposed_reads_as_composed_text(tmp_path):
    """NFD text ("tuổi" as "tuô" + a combining hook) must read like NFC, or questions (NFC) would not match."""
    import unicodedata

    seeds = tmp_path / "seeds"
    seeds.mkdir()
    text = "Ghi chú\n\nĐàn ông dưới 45 tuổi phải nhập ngũ trong vòng 3 tháng.\n"
    (seeds / "nfd.txt").write_text(unicodedata.normalize("NFD", text), encoding="utf-8")
    (document,) = read_documents(seeds)
    assert document.text == unicodedata.normalize("NFC", text)
    (passage,) = split_documents([document])
    assert "45 tuổi" in passage.text and document.text[passage.start:passage.end].startswith("Đàn ông")


def test_composing_keeps_page_offsets_right():
    import unicodedata

    from qa.documents.reading import composed

    pages = [unicodedata.normalize("NFD", "Trang một: tuổi.\n"), unicodedata.normalize("NFD", "Trang hai: đầu.\n")]
    text, starts = composed("".join(pages), (0, len(pages[0])))
    assert text == unicodedata.normalize("NFC", "".join(pages))
    assert text[starts[1]:].startswith("Trang hai")
