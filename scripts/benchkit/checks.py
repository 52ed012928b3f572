"""Checks of answers and hits as the JSON API returns them, and the questions about the seed they are asked with."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Question:
    """A question about the seed, with what a right answer must hold (any one of `expect`); `expect` is empty
    for a question the document does not answer, whose answer is then only checked for valid citations."""

    text: str
    language: str
    expect: tuple[str, ...] = ()


# Written from reading seeds/000_ae2b548a11784ba7.txt; each expectation is a fact stated there.
QUESTIONS: tuple[Question, ...] = (
    Question("Aliev được bầu làm Tổng thống Azerbaijan vào năm nào?", "vi", ("1993",)),
    Question("Trong hai chiến dịch mùa đông, quân Azerbaijan mất bao nhiêu binh lính?", "vi", ("5000",)),
    Question("Lãnh đạo các bên gặp nhau ở thành phố nào để ký hiệp định ngưng bắn?", "vi", ("Moscow",)),
    Question("Chính quyền Armenia động viên đàn ông dưới bao nhiêu tuổi?", "vi", ("45",)),
    Question("Tháng 10, Azerbaijan gia nhập tổ chức nào?", "vi", ("SNG", "Cộng đồng các quốc gia độc lập")),
    Question("Người Armenia kiểm soát bao nhiêu phần trăm lãnh thổ Azerbaijan?", "vi", ("9%",)),
    Question("Giáo sư người Nga nào đồng tình với nhận định về tinh thần của lính Azeri?", "vi", ("Mirsky",)),
    Question("Quân Azeri chiếm được đèo nào trong cuộc tiến công vào quận Khelbajar?", "vi", ("Omar",)),
    Question("Where did the leaders of Armenia, Azerbaijan and Russia meet on 15 May to sign the ceasefire?", "en",
             ("Moscow",)),
    Question("How many soldiers did Azerbaijan lose in the two winter campaigns?", "en", ("5000",)),
    Question("What railway junction did Azerbaijan and Afghan mujahideen recapture in Fizuli district?", "en",
             ("Horadiz",)),
    Question("How old were the youngest recruits that Azerbaijan sent into the attacks?", "en", ("16",)),
    Question("In what year did Andrei Sakharov die?", "en", ("1989",)),
    Question("Thủ đô của nước Úc là thành phố nào?", "vi"),
    Question("What is the boiling point of water on Mount Everest?", "en"),
)



_BRACKETED = re.compile(r"\[[^\[\]]*\]")


def _core(text: str) -> str:
    """`text` without white space and bracketed groups: what a passage's cleaned text (reference markers such
    as [15] dropped, white space folded) has in common with its source span, to the character."""
    while (shorter := _BRACKETED.sub("", text)) != text:
        text = shorter
    return "".join(text.split())


def hit_problems(hits: Sequence[Mapping[str, Any]], texts: Mapping[str, str]) -> list[str]:
    """Why hits (as `qa search --json` prints them) are not ranked passages of the documents `texts` (name →
    text as read); empty when they are."""
    problems = []
    ranks = [hit.get("rank") for hit in hits]
    if ranks != list(range(1, len(hits) + 1)):
        problems.append(f"ranks are {ranks}, not 1..{len(hits)}")
    scores = [hit.get("score") for hit in hits]
    if not all(isinstance(s, (int, float)) and math.isfinite(s) for s in scores):
        problems.append(f"scores are not finite numbers: {scores}")
    elif any(a < b for a, b in zip(scores, scores[1:])):
        problems.append(f"scores are not in descending order: {scores}")
    for hit in hits:
        citation = hit.get("citation") or {}
        text = texts.get(citation.get("document"))
        start, end = citation.get("start"), citation.get("end")
        if text is None:
            problems.append(f"hit {hit.get('passage_id')} cites an unknown document {citation.get('document')!r}")
        elif not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text)):
            problems.append(f"hit {hit.get('passage_id')} spans {start}:{end}, outside its {len(text)}-char document")
        else:
            source = text[start:end]
            if source != source.strip():
                problems.append(f"hit {hit.get('passage_id')} span {start}:{end} is not trimmed")
            if not hit.get("text") or _core(hit["text"]) != _core(source):
                problems.append(f"hit {hit.get('passage_id')} text is not the text at {start}:{end}")
    return problems


def answer_problems(answer: Mapping[str, Any], texts: Mapping[str, str]) -> list[str]:
    """Why an answer object (as `qa ask --json` and /ask return it) is not a well-formed, exactly cited answer
    from the documents `texts`; empty when it is. Says nothing about whether it is the right answer."""
    problems = hit_problems(answer.get("hits", []), texts)
    if not isinstance(answer.get("answer"), str) or not answer["answer"].strip():
        problems.append("the answer text is empty")
    confidence = answer.get("confidence")
    if not isinstance(confidence, (int, float)) or not 0 <= confidence <= 1:
        problems.append(f"confidence {confidence!r} is not in 0..1")
    citations = answer.get("citations", [])
    if answer.get("answered") and not citations:
        problems.append("answered without a citation")
    if [c.get("marker") for c in citations] != list(range(1, len(citations) + 1)):
        problems.append(f"citation markers are {[c.get('marker') for c in citations]}")
    spans = {hit["passage_id"]: hit["citation"] for hit in answer.get("hits", []) if "citation" in hit}
    for citation in citations:
        text = texts.get(citation.get("document"))
        start, end = citation.get("start"), citation.get("end")
        if text is None:
            problems.append(f"citation [{citation.get('marker')}] names an unknown document")
        elif not citation.get("quote") or text[start:end] != citation["quote"]:
            problems.append(f"citation [{citation.get('marker')}] quote is not document_text[{start}:{end}]")
        if answer.get("answered") and f"[{citation.get('marker')}]" not in answer.get("answer", ""):
            problems.append(f"citation [{citation.get('marker')}] is not marked in the answer")
        passage = spans.get(citation.get("passage_id"))
        if passage and passage["document"] == citation.get("document") and \
                not passage["start"] <= start < end <= passage["end"]:
            problems.append(f"citation [{citation.get('marker')}] {start}:{end} lies outside its passage")
    return problems


def expectation_problems(question: Question, answer: Mapping[str, Any]) -> list[str]:
    """Why `answer` is not the right answer to `question`: an in-document question must be answered, with
    citations, and hold one of its expected strings in the answer, a quote or a cited passage."""
    if not question.expect:
        return []
    if not answer.get("answered") or not answer.get("citations"):
        return [f"not answered: {answer.get('answer')!r}"]
    cited = {c["passage_id"] for c in answer["citations"]}
    where = [answer["answer"], *(c["quote"] for c in answer["citations"]),
             *(h["text"] for h in answer.get("hits", []) if h["passage_id"] in cited)]
    if not any(expected in text for expected in question.expect for text in where):
        return [f"none of {question.expect} in the answer or its citations: {answer['answer']!r}"]
    return []


def same_answer(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """The same answer text and citations (scores may differ in the last digits between runs)."""
    return a.get("answer") == b.get("answer") and a.get("citations") == b.get("citations")
