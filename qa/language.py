"""Language detection for questions and documents: Vietnamese or English.

Vietnamese is recognised by its letters (ă â đ ê ô ơ ư and tone marks) or, when typed without
diacritics, by its function words; English by its function words.
"""

from __future__ import annotations

import re

from qa.text import strip_diacritics

VIETNAMESE = "vi"
ENGLISH = "en"
LANGUAGES = (VIETNAMESE, ENGLISH)

_VIETNAMESE_LETTERS = frozenset(
    "ăâđêôơư"
    "àáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ"
)
# Frequent Vietnamese words as typed without diacritics; none of them is a common English word.
_VIETNAMESE_CUES = frozenset(
    "la cua nhung khi nao bao nhieu dau gi ai tai sao nam thang ngay nguoi duoc trong cac va co khong voi cho "
    "nay do thi ve nhu tu mot hai ba da bi ma vao ra len xuong nuoc chien tranh quan doi nhu the".split()
)
_ENGLISH_CUES = frozenset(
    "the a an of in on at to is was were are did does do what who whom when where why how which many much and "
    "or for by with from that this it its as be been has have had after before during".split()
)
_ASCII_WORD = re.compile(r"[a-z]+")


def detect_language(text: str) -> str:
    """"vi" or "en". Text with no cue at all (a bare name) counts as English."""
    letters = [ch for ch in text.lower() if ch.isalpha()]
    if not letters:
        return ENGLISH
    vietnamese_letters = sum(ch in _VIETNAMESE_LETTERS for ch in letters)
    if vietnamese_letters >= 2 or vietnamese_letters / len(letters) > 0.05:
        return VIETNAMESE
    words = _ASCII_WORD.findall(strip_diacritics(text.lower()))
    vietnamese_cues = sum(w in _VIETNAMESE_CUES for w in words)
    english_cues = sum(w in _ENGLISH_CUES for w in words)
    return VIETNAMESE if vietnamese_cues > english_cues else ENGLISH
