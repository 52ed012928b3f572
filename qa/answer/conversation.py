"""Follow-up questions in a conversation: "Còn năm 1994 thì sao?" or "And who signed it?" say little on their own,
so retrieval gets them together with the question they follow.

`contextualize` is a pure function of the new question and the earlier ones: a question that reads as a
follow-up (very short, opening with "còn" / "and" / "what about", or short and leaning on a word such as
"đó", "họ", "it", "they") is prefixed with the last earlier question that stood on its own; any other question
is returned unchanged. `Assistant.stream(question, history)` runs it: the combined text is what retrieval
embeds, while the answer is still framed for, and typed by, the question the user asked.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from qa.retrieval.retriever import MAX_QUESTION_CHARS

# At most this many words and the question counts as a follow-up even without a cue ("Năm nào?", "Why?").
BARE_FOLLOW_UP_WORDS = 2
# A question that leans on a pronoun or demonstrative counts as a follow-up only when it is this short or shorter:
# "When was it signed?" does, "What is the treaty that ended the war?" does not.
REFERRING_FOLLOW_UP_WORDS = 8

# Openings that only make sense after an earlier question.
_LEADING_CUES = {
    "vi": ("còn", "vậy còn", "thế còn", "và", "vậy", "rồi", "sau đó", "ngoài ra"),
    "en": ("and", "what about", "how about", "then", "also", "so", "but", "what else", "anything else"),
}
# Words that point back at something said before.
_REFERRING_CUES = {
    "vi": ("thì sao", "thì thế nào", "thì như thế nào", "đó", "này", "ấy", "kia", "họ", "ông ấy", "bà ấy",
           "anh ấy", "chị ấy", "cô ấy", "ông ta", "bà ta", "hắn", "nó", "chúng", "bên đó", "nơi đó", "lúc đó",
           "khi đó", "năm đó"),
    "en": ("it", "its", "they", "them", "their", "he", "him", "his", "she", "her", "that", "this", "those",
           "these", "there", "then", "the same", "the other"),
}


def _phrase_pattern(phrases: Sequence[str], anchored: bool) -> re.Pattern:
    alternatives = "|".join(re.escape(p) for p in sorted(phrases, key=len, reverse=True))
    prefix = r"^\s*" if anchored else r"(?<!\w)"
    return re.compile(prefix + f"(?:{alternatives})" + r"(?!\w)", re.IGNORECASE)


_LEADING = _phrase_pattern([cue for cues in _LEADING_CUES.values() for cue in cues], anchored=True)
_REFERRING = _phrase_pattern([cue for cues in _REFERRING_CUES.values() for cue in cues], anchored=False)
_WORD = re.compile(r"\w+")


def is_follow_up(question: str) -> bool:
    """Whether `question` leans on an earlier one (by its length and its follow-up cues)."""
    n_words = len(_WORD.findall(question))
    if n_words == 0:
        return False
    if n_words <= BARE_FOLLOW_UP_WORDS or _LEADING.search(question):
        return True
    return n_words <= REFERRING_FOLLOW_UP_WORDS and bool(_REFERRING.search(question))


def topic_question(previous_questions: Sequence[str]) -> str | None:
    """The latest earlier question that stood on its own (follow-ups are skipped), or None."""
    for question in reversed(previous_questions):
        if question and question.strip() and not is_follow_up(question):
            return question.strip()
    return None


def contextualize(question: str, previous_questions: Sequence[str] = ()) -> str:
    """The text to retrieve with: `question` itself, or, for a follow-up, the topic question followed by it.

    >>> contextualize("Còn năm 1994 thì sao?", ["Ai kiểm soát Shahumian năm 1993?"])
    'Ai kiểm soát Shahumian năm 1993? Còn năm 1994 thì sao?'
    >>> contextualize("Aliev được bầu khi nào?", ["Ai kiểm soát Shahumian năm 1993?"])
    'Aliev được bầu khi nào?'
    """
    question = question.strip()
    if not question or not is_follow_up(question):
        return question
    topic = topic_question(previous_questions)
    if topic is None or topic == question:
        return question
    combined = f"{topic} {question}"
    return combined if len(combined) <= MAX_QUESTION_CHARS else question
