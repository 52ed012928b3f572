"""What the page says, in Vietnamese and English: labels, messages, and the friendly message for any failure.

Messages follow the asker's language; when it is unknown (an empty question) they are given in both.
"""

import logging
import uuid
from typing import Any

import qa

log = logging.getLogger("hoidap.ui")

TITLE = "Hỏi đáp · Q&A"
VI, EN = "vi", "en"

TEXT = {
    "searching": {VI: "Đang tìm trong tài liệu…", EN: "Searching the documents…"},
    "searching_llm": {VI: "Đang tìm trong tài liệu, rồi {model} sẽ viết câu trả lời…",
                      EN: "Searching the documents; {model} then writes the answer…"},
    "written_by": {VI: "Viết bởi {model} · đã kiểm tra trích dẫn", EN: "Written by {model} · citations checked"},
    "llm_unused": {VI: "Không dùng câu trả lời của {model} ({reason}): đây là câu trích từ tài liệu.",
                   EN: "{model}'s answer was not used ({reason}): this one is quoted from the documents."},
    "empty": {VI: "Bạn chưa nhập câu hỏi. Hãy gõ một câu hỏi về nội dung các tài liệu (hoặc chọn một câu hỏi mẫu).",
              EN: "Please type a question about the documents first (or pick one of the examples)."},
    "too_long": {VI: "Câu hỏi dài {n} ký tự, vượt giới hạn {limit} ký tự. Hãy rút gọn rồi hỏi lại.",
                 EN: "Your question is {n} characters long; the limit is {limit}. Please shorten it and ask again."},
    "no_index": {VI: "Chỉ mục tài liệu chưa sẵn sàng: nó chưa được tạo hoặc đang được xây dựng lại. Hãy chạy "
                     "“qa index” (hoặc đợi việc xây dựng xong) rồi hỏi lại sau ít phút.",
                 EN: "The document index is not ready: it has not been built yet or is being rebuilt. Run "
                     "“qa index” (or wait for the rebuild to finish) and ask again in a minute."},
    "broken": {VI: "Không dùng được chỉ mục tài liệu: {detail}", EN: "The document index cannot be used: {detail}"},
    "error": {VI: "Xin lỗi, đã có lỗi ngoài ý muốn khi trả lời (mã lỗi {id}). Hãy thử lại.",
              EN: "Sorry, something went wrong while answering (error {id}). Please try again."},
    "stale": {VI: "Tài liệu đã thay đổi từ lần tạo chỉ mục gần nhất; câu trả lời có thể chưa cập nhật "
                  "(chạy “qa index” để cập nhật).",
              EN: "The documents changed since the index was built; answers may be out of date "
                  "(run “qa index” to refresh it)."},
    "cited": {VI: "Nguồn được trích dẫn", EN: "Cited sources"},
    "nearest": {VI: "Không có câu trả lời trong tài liệu; các đoạn gần nhất:",
                EN: "No answer in the documents; the nearest passages:"},
    "others": {VI: "Các đoạn khác được tìm thấy", EN: "Other retrieved passages"},
    "score": {VI: "điểm", EN: "score"},
    "paragraph": {VI: "đoạn", EN: "¶"},
    "page": {VI: "tr.", EN: "p."},
    "question": {VI: "Câu hỏi", EN: "Question"},
    "language": {VI: "Ngôn ngữ câu hỏi", EN: "Question language"},
    "query": {VI: "Câu dùng để tìm (kèm câu hỏi trước)", EN: "Searched with (joined to the earlier question)"},
    "confidence": {VI: "Độ tin cậy", EN: "Confidence"},
    "no_sources": {VI: "Nguồn của câu trả lời sẽ hiện ở đây.", EN: "The sources of each answer appear here."},
}
LANGUAGE_NAMES = {VI: {VI: "tiếng Việt", EN: "tiếng Anh"}, EN: {VI: "Vietnamese", EN: "English"}}


def say(key: str, language: str | None, **values: Any) -> str:
    """A message in `language`, or in both languages when it is unknown (an empty question)."""
    texts = TEXT[key]
    if language in texts:
        return texts[language].format(**values)
    return " · ".join(texts[lang].format(**values) for lang in (VI, EN))


def describe_error(error: Exception, question: str) -> str:
    """A short, friendly message for any failure; unexpected ones are logged with their trace and an id."""
    language = qa.detect_language(question[:qa.MAX_QUESTION_CHARS]) \
        if isinstance(question, str) and question.strip() else None
    if isinstance(error, qa.InvalidQuestionError):
        if error.reason == "empty" or not isinstance(question, str):
            return say("empty", None)
        if error.reason == "too_long":
            return say("too_long", language or EN, n=len(question.strip()), limit=qa.MAX_QUESTION_CHARS)
        return str(error)
    if isinstance(error, (qa.IndexNotFoundError, qa.SeedsNotFoundError)):
        return say("no_index", language or EN)
    if isinstance(error, (qa.IndexCorruptError, qa.IndexMismatchError, qa.ModelNotAvailableError)):
        return say("broken", language or EN, detail=str(error))
    if isinstance(error, qa.QAError):
        return str(error)
    ident = uuid.uuid4().hex[:8]
    log.error("Unexpected error %s for question %r", ident, question, exc_info=error)
    return say("error", language or EN, id=ident)
