"""What a question asks for, and where a sentence holds it: pure functions over text, no model, no index.

A question asks for a date ("when / khi nào"), a number ("how many / bao nhiêu"), a name ("who / ai") or a place
("where / ở đâu"); the extractive answerer favours sentences that hold one and quotes it as the short answer.
Kept apart from the scoring so these rules can grow (and be tested) on their own.
"""

from __future__ import annotations

import re

from qa.text import words

_QUESTION_TYPES: list[tuple[str, re.Pattern]] = [
    ("how_many", re.compile(r"\b(bao nhiêu|mấy|số lượng|how many|how much|how old|how long|what percentage|"
                            r"what number|bao lâu|tỷ lệ|phần trăm)\b", re.I)),
    ("when", re.compile(r"\b(khi nào|năm nào|ngày nào|tháng nào|bao giờ|lúc nào|thời điểm nào|vào thời điểm|"
                        r"năm bao nhiêu|when|what year|what date|which year|which month|what month|what day)\b", re.I)),
    ("who", re.compile(r"(^|\s)(ai|người nào|vị nào|nhân vật nào|who|whom|whose|which person)\b", re.I)),
    ("where", re.compile(r"\b(ở đâu|tại đâu|nơi nào|chỗ nào|đâu|thành phố nào|khu vực nào|vùng nào|quận nào|"
                         r"where|which city|which town|which region|which district|which area|what place)\b", re.I)),
]

_MONTHS_EN = "January February March April May June July August September October November December".split()
_DATE = re.compile(
    r"(?:ngày\s+)?\d{1,2}\s+tháng\s+\d{1,2}(?:\s+năm\s+\d{3,4})?"
    r"|(?:tháng\s+\d{1,2}\s+)?năm\s+\d{3,4}"
    r"|tháng\s+\d{1,2}"
    r"|\d{1,2}\s+(?:" + "|".join(_MONTHS_EN) + r")(?:\s+\d{4})?"
    r"|(?:" + "|".join(_MONTHS_EN) + r")\s+\d{1,2}(?:,\s*\d{4})?"
    r"|\b1[5-9]\d\d\b|\b20\d\d\b", re.I)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*\s*%|\d+(?:[.,]\d{3})*(?:\s+(?:tuổi|tháng|năm|ngày|người|km|years?|months?|"
                     r"days?|people|percent))?|\b(?:một|hai|ba|bốn|năm|sáu|bảy|tám|chín|mười|vài)\s+(?:trăm|nghìn|"
                     r"ngàn|triệu|năm|tháng|ngày)\b", re.I)
_TOKEN = re.compile(r"[\w'’.-]*\w\.?|\w")
_PLACE_PREPOSITIONS = frozenset("tại ở gần đến tới về in at near to from".split())
# Capitalised only because they start a sentence: "Tại Azerbaijan" → "Azerbaijan".
NOT_NAMES = frozenset("tháng ngày năm tại ở theo sau trong trước khi phía các những một người the in at on after "
                       "before during when".split())
_LEADING_DATE_WORD = re.compile(r"^(?:ngày\s+|năm\s+(?=\d+$))", re.I)
_VI_DATE = re.compile(r"^(?:(\d{1,2})\s+)?(?:tháng\s+(\d{1,2}))?\s*(?:năm\s+)?(\d{3,4})?$", re.I)


def question_type(question: str) -> str | None:
    """The kind of answer asked for, by the earliest question word: "Who was president when…" asks who."""
    found = [(match.start(), name) for name, pattern in _QUESTION_TYPES if (match := pattern.search(question))]
    return min(found)[1] if found else None


def extract_span(kind: str | None, sentence: str, question: str) -> str | None:
    """The date, number, name or place in `sentence` that the question asks for (and does not already say)."""
    if kind is None:
        return None
    asked = set(words(question))
    question_text = question.lower()

    def new(candidate: str) -> bool:
        return candidate.lower() not in question_text and not set(words(candidate)) <= asked

    if kind == "when":
        candidates = [m.group(0) for m in _DATE.finditer(sentence)]
    elif kind == "how_many":
        candidates = [m.group(0) for m in _NUMBER.finditer(sentence)]
        candidates = [c for c in candidates if not _DATE.fullmatch(c)] or candidates
        # a number whose unit the question names ("bao nhiêu tuổi" → "45 tuổi") comes first
        candidates.sort(key=lambda c: not (set(words(c)) - set(re.findall(r"\d+", c))) & asked)
    elif kind == "where":
        runs = _capitalised_runs(sentence, asked)
        candidates = [name for name, after_preposition in runs if after_preposition] + [name for name, _ in runs]
    else:
        candidates = [name for name, _ in _capitalised_runs(sentence, asked)]
    fresh = [c.strip(" ,.") for c in candidates if new(c)]
    if kind == "when" and fresh:
        return _LEADING_DATE_WORD.sub("", max(fresh, key=len))
    return fresh[0] if fresh else None


def english_date(span: str) -> str | None:
    """ "15 tháng 5" → "15 May", "tháng 10 năm 1993" → "October 1993": dates read the same in any language."""
    match = _VI_DATE.match(span.strip())
    if not match or not any(match.groups()) or (match.group(1) and not match.group(2)):
        return None
    day, month, year = match.groups()
    if month and not 1 <= int(month) <= 12:
        return None
    parts = [day, _MONTHS_EN[int(month) - 1] if month else None, year]
    return " ".join(p for p in parts if p)


def _capitalised_runs(sentence: str, asked: set[str]) -> list[tuple[str, bool]]:
    """Runs of capitalised words (names, places), minus words the question already used, each with whether a
    place preposition ("tại", "ở", "in", "near") stands before it. "Nga Georgiy I. Mirsky" → the name."""
    tokens = [(m.group(0), m.start(), m.end()) for m in _TOKEN.finditer(sentence)]
    runs: list[tuple[str, bool]] = []
    i = 0
    while i < len(tokens):
        if not _capitalised(tokens[i][0]) or (i == 0 and not _capitalised_next(tokens, i)):
            i += 1
            continue
        j = i
        while j + 1 < len(tokens) and _capitalised(tokens[j + 1][0]) and \
                sentence[tokens[j][2]:tokens[j + 1][1]].strip() == "":
            j += 1
        words_in_run = [t[0].rstrip(".") if not _initial(t[0]) else t[0] for t in tokens[i:j + 1]]
        while words_in_run and words_in_run[0].lower() in asked | NOT_NAMES:
            words_in_run.pop(0)
        while words_in_run and words_in_run[-1].lower().rstrip(".") in asked:
            words_in_run.pop()
        if words_in_run:
            preposition = i > 0 and tokens[i - 1][0].lower() in _PLACE_PREPOSITIONS
            runs.append((" ".join(words_in_run), preposition))
        i = j + 1
    return runs


def _capitalised(token: str) -> bool:
    return token[0].isupper()


def _initial(token: str) -> bool:
    return len(token) == 2 and token[0].isupper() and token[1] == "."


def _capitalised_next(tokens: list[tuple[str, int, int]], i: int) -> bool:
    """A sentence's first word counts as a name only when the next word is capitalised too."""
    return i + 1 < len(tokens) and _capitalised(tokens[i + 1][0])
