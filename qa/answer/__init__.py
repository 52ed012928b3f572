"""Stage 6: answers — what the documents say to a question, cited, in the asker's language, or an honest "not in
the documents".

    records.py       Answer, AnswerCitation, AnswerSettings, LLMSettings: frozen records, no behaviour
    base.py          Answerer (the interface: stream(result, k) → text deltas, then the Answer), final_answer
    spans.py         what a question asks for (a date, number, name, place) and where a sentence holds it
    extractive.py    ExtractiveAnswerer: the best sentence(s) of the top passages, quoted (the default)
    llm.py           LLMAnswerer: an OpenAI-compatible server writes the answer; verified, else extractive
    local_llm.py     LocalLLM: `--llm local`, llama.cpp's server run as a child with a GGUF model
    conversation.py  follow-up questions: contextualize, is_follow_up, topic_question
    assistant.py     Assistant: question (+ history) → retrieval → an answerer's events
"""

from qa.answer.assistant import Assistant, default_answerer
from qa.answer.base import AnswerEvent, Answerer, final_answer, stream_words
from qa.answer.conversation import contextualize, is_follow_up, topic_question
from qa.answer.extractive import ExtractiveAnswerer
from qa.answer.llm import LLMAnswerer, LLMError, LLMFallbackWarning
from qa.answer.local_llm import LocalLLM
from qa.answer.records import NOT_FOUND, Answer, AnswerCitation, AnswerSettings, LLMSettings

__all__ = [
    "Assistant", "default_answerer", "AnswerEvent", "Answerer", "final_answer", "stream_words", "contextualize",
    "is_follow_up", "topic_question", "ExtractiveAnswerer", "LLMAnswerer", "LLMError", "LLMFallbackWarning", "LocalLLM",
    "NOT_FOUND", "Answer", "AnswerCitation", "AnswerSettings", "LLMSettings",
]
