from qa.language import detect_language
from qa.text import clean_text, find_references, lexical_tokens, sentence_spans, strip_diacritics


def test_reference_markers_are_found_and_removed_but_other_brackets_stay():
    source = 'lãnh thổ tự trị cũ[15][16]. Ông nói "[Ngược lại] ở Azerbaijan."[65]'
    assert find_references(source) == ["15", "16", "65"]
    assert clean_text(source) == 'lãnh thổ tự trị cũ. Ông nói "[Ngược lại] ở Azerbaijan."'


def test_clean_text_folds_white_space():
    assert clean_text("  a \n\t b  [3] .") == "a b."


def test_sentences_split_after_references_and_quotes():
    text = 'Quân Azerbaijan không chiếm được thị trấn Fizuli.[61] Ngày 10 tháng 1 năm 1994, họ tấn công. "Câu."[64] Hết'
    spans = sentence_spans(text)
    assert [text[s:e] for s, e in spans] == [
        "Quân Azerbaijan không chiếm được thị trấn Fizuli.[61]",
        "Ngày 10 tháng 1 năm 1994, họ tấn công.",
        '"Câu."[64]',
        "Hết",
    ]


def test_initials_and_abbreviations_do_not_end_sentences():
    text = "Giáo sư Nga Georgiy I. Mirsky đồng tình. Dr. Smith came in 1994. TP. Hồ Chí Minh lớn."
    assert [text[s:e] for s, e in sentence_spans(text)] == [
        "Giáo sư Nga Georgiy I. Mirsky đồng tình.",
        "Dr. Smith came in 1994.",
        "TP. Hồ Chí Minh lớn.",
    ]


def test_sentence_spans_respect_a_window_and_point_into_the_text():
    text = "XX Một câu. Hai câu! YY"
    spans = sentence_spans(text, 3, 20)
    assert [text[s:e] for s, e in spans] == ["Một câu.", "Hai câu!"]


def test_a_heading_line_on_top_of_its_paragraph_is_a_sentence_of_its_own():
    # A regulation saved as plain text: each article's heading sits on the line above its text, no blank line.
    text = ("Điều 2. Thời gian mở cửa\nThư viện mở cửa từ thứ Hai đến thứ Sáu, buổi sáng từ 7 giờ đến 11 giờ. "
            "Sáng thứ Bảy mở cửa đến 11 giờ.\nChương II\nĐiều 3. Thẻ thư viện\nMỗi học sinh được cấp một thẻ "
            "thư viện miễn phí vào đầu năm học.")
    assert [text[s:e] for s, e in sentence_spans(text)] == [
        "Điều 2. Thời gian mở cửa",  # whole: the period after "Điều 2" does not split a heading
        "Thư viện mở cửa từ thứ Hai đến thứ Sáu, buổi sáng từ 7 giờ đến 11 giờ.",
        "Sáng thứ Bảy mở cửa đến 11 giờ.",
        "Chương II",
        "Điều 3. Thẻ thư viện",
        "Mỗi học sinh được cấp một thẻ thư viện miễn phí vào đầu năm học.",
    ]


def test_line_breaks_inside_a_sentence_are_not_headings():
    subscript = "A molecular form called protonated hydrogen (H+\n3) is found in space. Large amounts of H\n2 are used."
    assert [subscript[s:e] for s, e in sentence_spans(subscript)] == [
        "A molecular form called protonated hydrogen (H+\n3) is found in space.", "Large amounts of H\n2 are used."]
    wrapped = ("The army moved north towards the river crossing at dawn\nRussian observers reported that the\n"
               "bridge was already down, and the crossing was abandoned.")
    assert len(sentence_spans(wrapped)) == 1  # hard-wrapped prose: its lines are all about as long
    sentence_then_list = "Thành phần gồm:\nBột mì\nĐường"
    assert len(sentence_spans(sentence_then_list)) == 1  # no line of it reads as a paragraph under a heading


def test_lowercase_after_period_does_not_split():
    text = "Năm 1993 có 3.5 triệu người. và tiếp tục"
    assert len(sentence_spans(text)) == 1


def test_lexical_tokens_drop_question_words_and_add_pairs_and_unaccented_forms():
    tokens = lexical_tokens("Ai là Tổng thống?")
    assert "ai" not in tokens and "là" not in tokens
    assert {"tổng", "thống", "tổng_thống", "tong_thong", "tong"} <= set(tokens)
    assert strip_diacritics("Đường biên Ngưng bắn") == "Duong bien Ngung ban"


def test_language_detection():
    assert detect_language("Khi nào lệnh ngưng bắn được ký?") == "vi"
    assert detect_language("bao nhieu linh da chet") == "vi"  # Vietnamese typed without diacritics
    assert detect_language("When was the ceasefire signed?") == "en"
    assert detect_language("How many soldiers did Azerbaijan lose?") == "en"
    assert detect_language("Aliev") == "en"


def test_a_few_vietnamese_names_do_not_make_english_text_vietnamese():
    assert detect_language("Ho Chi Minh City, officially Hồ Chí Minh City, is the largest city of the country.") == "en"
    assert detect_language("Who founded the Việt Minh?") == "en"
    assert detect_language("Thủ đô của Úc là gì?") == "vi"
    assert detect_language("Năm 1994") == "vi"  # a capitalised first word is not taken for a name
