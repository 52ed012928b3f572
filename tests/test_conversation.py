"""Follow-up questions: which ones lean on the previous turn, and what retrieval is given for them."""

import pytest

from qa.answer import Answer, Assistant, contextualize, is_follow_up, topic_question
from qa.retrieval.retriever import MAX_QUESTION_CHARS

FOLLOW_UPS = [
    "Còn năm 1994 thì sao?",
    "Vậy còn Armenia?",
    "Ông ấy được bầu khi nào?",
    "Chiến dịch này diễn ra ở đâu?",
    "Họ ký ở đâu?",
    "Năm nào?",
    "And who signed it?",
    "What about 1994?",
    "When was it signed?",
    "Where did they meet?",
    "Why?",
]
STANDALONE = [
    "Lệnh ngưng bắn được ký ở đâu?",
    "Aliev chính thức trở thành Tổng thống Azerbaijan vào thời điểm nào?",
    "Thế nào là lệnh ngưng bắn?",
    "Aliev là ai?",
    "Where was the ceasefire signed?",
    "How many soldiers did Azerbaijan lose?",
    "What is the name of the agreement that ended the war in 1994?",  # "that" in a long question is no cue
    "",
]


@pytest.mark.parametrize("question", FOLLOW_UPS)
def test_follow_ups_are_recognised(question):
    assert is_follow_up(question)


@pytest.mark.parametrize("question", STANDALONE)
def test_standalone_questions_are_not_follow_ups(question):
    assert not is_follow_up(question)


def test_a_follow_up_is_prefixed_with_the_previous_question():
    previous = ["Lệnh ngưng bắn được ký ở đâu?"]
    assert contextualize("Còn năm 1994 thì sao?", previous) == "Lệnh ngưng bắn được ký ở đâu? Còn năm 1994 thì sao?"
    assert contextualize("And who signed it?", ["Where was the ceasefire signed?"]) == \
        "Where was the ceasefire signed? And who signed it?"


def test_a_standalone_question_is_left_alone():
    assert contextualize("Aliev là ai?", ["Lệnh ngưng bắn được ký ở đâu?"]) == "Aliev là ai?"
    assert contextualize("  Where was the ceasefire signed?  ", ["Aliev là ai?"]) == "Where was the ceasefire signed?"


def test_without_history_a_follow_up_is_returned_as_is():
    assert contextualize("And who signed it?", []) == "And who signed it?"
    assert contextualize("And who signed it?") == "And who signed it?"
    assert topic_question([]) is None


def test_a_chain_of_follow_ups_keeps_the_topic_question():
    history = ["Where was the ceasefire signed?", "And when?", "Who signed it?"]
    assert topic_question(history) == "Where was the ceasefire signed?"
    assert contextualize("What about Armenia?", history) == "Where was the ceasefire signed? What about Armenia?"


def test_the_combined_question_never_exceeds_the_limit():
    long_topic = "Chiến tranh " * ((MAX_QUESTION_CHARS - 20) // 12) + "ở đâu?"
    assert contextualize("Còn năm 1994 thì sao?", [long_topic]) == "Còn năm 1994 thì sao?"


class FakeRetriever:
    def __init__(self):
        self.queries = []

    def retrieve(self, query, k):
        from qa import SearchResult

        self.queries.append((query, k))
        return SearchResult(query, "vi", [], None)


class FakeAnswerer:
    """Streams one delta, then an answer that echoes the result it was given."""

    passages = 3

    def stream(self, result, k):
        yield "streamed"
        yield Answer(result.query, result.language, False, "", None, 0.0, [], result.hits[:k])


def fake_assistant():
    return Assistant(FakeRetriever(), answerer=FakeAnswerer())


def test_the_assistant_retrieves_with_the_context_but_answers_the_question_asked():
    assistant = fake_assistant()
    answered = assistant.ask(" And who signed it? ", ["Lệnh ngưng bắn được ký ở đâu?"], k=2)
    query = "Lệnh ngưng bắn được ký ở đâu? And who signed it?"
    assert answered.retrieval_query == query
    assert assistant.retriever.queries == [(query, 3)]  # at least the passages an answer may cite
    assert answered.question == "And who signed it?" and answered.language == "en"  # framed for the asker
    events = list(assistant.stream("Aliev là ai?", []))
    assert events[0] == "streamed" and isinstance(events[-1], Answer) and len(events) == 2
    assert events[-1].retrieval_query == "Aliev là ai?" and assistant.retriever.queries[-1] == ("Aliev là ai?", 5)


def test_the_assistant_rejects_bad_questions_and_history():
    from qa import InvalidArgumentError, InvalidQuestionError

    with pytest.raises(InvalidQuestionError):
        fake_assistant().ask("   ", ["Aliev là ai?"])
    with pytest.raises(InvalidArgumentError):
        fake_assistant().ask("Aliev là ai?", 5)  # k given where the earlier questions go
