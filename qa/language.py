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
    "nay do thi ve nhu tu mot hai ba da bi ma vao ra len xuong nuoc nhu the".split()
)
_ENGLISH_CUES = frozenset(
    "the a an of in on at to is was were are did does do what who whom when where why how which many much and "
    "or for by with from that this it its as be been has have had after before during".split()
)
_ASCII_WORD = re.compile(r"[a-z]+")
_WORD = re.compile(r"\w+")


def detect_language(text: str) -> str:
    """"vi" or "en": whichever has more cues. A Vietnamese cue is a lower-case word written with Vietnamese
    letters (a capitalised one past the first word is usually a name, as in "in Hồ Chí Minh City") or a frequent Vietnamese word typed
    without diacritics; an English cue is a frequent English word. Text with no cue at all (a bare name) counts
    as English."""
    vietnamese_cues = english_cues = 0
    for position, word in enumerate(_WORD.findall(text)):
        lower = word.lower()
        if any(ch in _VIETNAMESE_LETTERS for ch in lower):
            vietnamese_cues += word[0].islower() or position == 0
            continue
        plain = strip_diacritics(lower)
        vietnamese_cues += plain in _VIETNAMESE_CUES
        english_cues += plain in _ENGLISH_CUES
    return VIETNAMESE if vietnamese_cues > english_cues else ENGLISH
