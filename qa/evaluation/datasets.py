"""Benchmark datasets: the project's JSONL gold format and SQuAD-format JSON, loaded into one shape.

Pure apart from reading the files: nothing here loads a model or touches an index. Every malformed input raises
`DatasetError` naming the file and the row (line number for JSONL; article/paragraph/qa index and id for SQuAD),
because a benchmark with thousands of rows is useless to debug from "KeyError: 'question'".
"""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from qa.documents.reading import is_heading
from qa.errors import InvalidQuestionError, QAError
from qa.language import detect_language
from qa.retrieval.retriever import validate_question

JSONL = "jsonl"
SQUAD = "squad"
_JSONL_SUFFIXES = (".jsonl", ".ndjson")
_MAX_LISTED_IDS = 10


class DatasetError(QAError, ValueError):
    """A benchmark file is unreadable, malformed or empty; the message names the file and the row."""


class HoldoutError(DatasetError):
    """A --holdout that cannot be applied: a fraction outside (0, 1), one that leaves no article to index, or a
    JSONL gold set (it has no articles of its own to leave out)."""


@dataclass(frozen=True)
class GoldQuestion:
    """One benchmark question with its gold answers. It is out of the documents when it has no answer, or when
    its article was held out of the index (then its answers stay, for the record, but cannot be found)."""

    id: str
    question: str
    answers: tuple[str, ...]  # verbatim source text; any of them counts (SQuAD lists several)
    language: str  # of the question: given by the row, else detected
    document: str | None  # the gold document's name; None: a passage from any document counts
    source: str  # where the row is, for messages: "line 3" or "data[0].paragraphs[1].qas[2]"
    indexed: bool = True  # False: its document was held out of the index (--holdout)
    history: tuple[str, ...] = ()  # earlier questions of the conversation (JSONL "history"): a follow-up

    @property
    def out_of_document(self) -> bool:
        return not self.answers or not self.indexed


@dataclass(frozen=True)
class SourceDocument:
    """A benchmark article, written as a seed file (title line, blank line, one block per paragraph)."""

    name: str  # file name in the temporary seeds folder, the document's identity in citations
    title: str
    paragraphs: tuple[str, ...]

    @property
    def text(self) -> str:
        return self.title + "\n\n" + "\n\n".join(self.paragraphs) + "\n"


@dataclass(frozen=True)
class Dataset:
    path: Path
    format: str  # JSONL or SQUAD
    questions: tuple[GoldQuestion, ...]
    documents: tuple[SourceDocument, ...] = ()  # SQuAD: the contexts to index; JSONL: empty (use a given index)
    questions_path: Path | None = None  # --questions: where the question texts came from
    holdout: Holdout | None = None  # the articles left out of the index, when --holdout was given

    @property
    def name(self) -> str:
        return str(self.path)

    @property
    def needs_own_index(self) -> bool:
        return bool(self.documents)

    @property
    def languages(self) -> list[str]:
        return order_languages({q.language for q in self.questions})


@dataclass(frozen=True)
class Holdout:
    """Which articles a --holdout run left out of the index, and the setting that chose them."""

    fraction: float
    seed: int
    documents: tuple[str, ...]  # held-out document names, in dataset order


def order_languages(languages: Iterable[str]) -> list[str]:
    """Vietnamese, English, then any other language alphabetically: a stable column order for tables."""
    preferred = ["vi", "en"]
    found = set(languages)
    return [lang for lang in preferred if lang in found] + sorted(found - set(preferred))


# ------------------------------------------------------------------------------------------------------ loading

def load_dataset(path: Path | str, questions: Path | str | None = None) -> Dataset:
    """The dataset at `path`; with `questions`, the question texts come from that parallel file (ids align)."""
    dataset = _load_one(Path(path))
    if questions is not None:
        dataset = align_questions(dataset, _load_one(Path(questions)))
    return dataset


def align_questions(dataset: Dataset, other: Dataset) -> Dataset:
    """Questions from `other`, gold answers and documents from `dataset`: a cross-lingual benchmark."""
    by_id = {q.id: q for q in other.questions}
    missing = [q.id for q in dataset.questions if q.id not in by_id]
    if missing:
        listed = ", ".join(missing[:_MAX_LISTED_IDS]) + (", …" if len(missing) > _MAX_LISTED_IDS else "")
        raise DatasetError(f"{other.path}: {len(missing)} question id(s) of {dataset.path} are missing: {listed}")
    aligned = tuple(replace(q, question=by_id[q.id].question, language=by_id[q.id].language)
                    for q in dataset.questions)
    return replace(dataset, questions=aligned, questions_path=other.path)


def with_questions_of(dataset: Dataset, other: Dataset) -> Dataset:
    """`dataset`'s own questions followed by the same questions worded as in `other` (ids repeat, languages
    differ): both languages asked against one index, so a bilingual benchmark builds its index once."""
    aligned = align_questions(dataset, other)
    return replace(dataset, questions=dataset.questions + aligned.questions, questions_path=other.path)


def hold_out(dataset: Dataset, fraction: float, seed: int = 0) -> Dataset:
    """Leave round(fraction × articles) articles (at least one) out of the index; their questions stay, as
    out-of-document questions. The choice is a seeded shuffle of the articles' positions only, never their text,
    so it is the same for any dataset of that many articles and favours none."""
    if dataset.format != SQUAD:
        raise HoldoutError(f"{dataset.path}: --holdout needs a SQuAD-format dataset (its articles are indexed "
                           f"by qa eval); a JSONL gold set runs against an index built elsewhere")
    if not 0 < fraction < 1:
        raise HoldoutError(f"--holdout must be a fraction between 0 and 1 (exclusive), got {fraction}")
    total = len(dataset.documents)
    count = max(1, math.floor(fraction * total + 0.5))
    if count >= total:
        raise HoldoutError(f"{dataset.path}: holding out {fraction} of its {total} article(s) leaves none to "
                           f"index; use a smaller fraction")
    chosen = set(random.Random(seed).sample(range(total), count))
    held = tuple(d.name for i, d in enumerate(dataset.documents) if i in chosen)
    questions = tuple(replace(q, indexed=q.document not in held) for q in dataset.questions)
    kept = tuple(d for i, d in enumerate(dataset.documents) if i not in chosen)
    return replace(dataset, questions=questions, documents=kept, holdout=Holdout(fraction, seed, held))


def _load_one(path: Path) -> Dataset:
    text = _read_text(path)
    if path.suffix.lower() in _JSONL_SUFFIXES:
        return parse_jsonl(path, text)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        if _first_line_is_object(text):
            return parse_jsonl(path, text)
        raise DatasetError(f"{path}: not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})") \
            from error
    if isinstance(data, dict) and "data" in data:
        return parse_squad(path, data)
    if isinstance(data, dict) and "question" in data:
        return parse_jsonl(path, text)  # a one-line JSONL file
    raise DatasetError(f"{path}: expected SQuAD-format JSON (an object with a \"data\" list) or JSONL "
                       f"(one question object a line), got {type(data).__name__}")


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as error:
        raise DatasetError(f"{path}: no such file") from error
    except IsADirectoryError as error:
        raise DatasetError(f"{path}: is a folder, not a dataset file") from error
    except UnicodeDecodeError as error:
        raise DatasetError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from error
    except OSError as error:
        raise DatasetError(f"{path}: cannot be read ({error.strerror})") from error


def _first_line_is_object(text: str) -> bool:
    first = next((line for line in text.splitlines() if line.strip()), "")
    try:
        return isinstance(json.loads(first), dict)
    except json.JSONDecodeError:
        return False


# -------------------------------------------------------------------------------------------------------- JSONL

def parse_jsonl(path: Path, text: str) -> Dataset:
    """`{"id", "question", "answer" (str, list of str, or null), "language"?, "document"?, "history"?}` one a
    line; "history" lists the conversation's earlier questions, oldest first, when the question is a follow-up."""
    questions = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"line {number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise DatasetError(f"{path}, {where}: not valid JSON ({error.msg}, column {error.colno})") from error
        if not isinstance(row, dict):
            raise DatasetError(f"{path}, {where}: expected a JSON object, got {type(row).__name__}")
        for key in ("id", "question", "answer"):
            if key not in row:
                raise DatasetError(f"{path}, {where}: missing field \"{key}\"")
        row_id = _require_id(path, where, row["id"])
        where = f"{where} (id {row_id})"
        question = _require_question(path, where, row["question"])
        answers = _jsonl_answers(path, where, row["answer"])
        language = _optional_string(path, where, row, "language") or detect_language(question)
        document = _optional_string(path, where, row, "document")
        history = _history(path, where, row.get("history", []))
        questions.append(GoldQuestion(row_id, question, answers, language, document, where, history=history))
    return Dataset(path, JSONL, _unique(path, questions))


def _history(path: Path, where: str, history: object) -> tuple[str, ...]:
    if not isinstance(history, list) or not all(isinstance(q, str) and q.strip() for q in history):
        raise DatasetError(f"{path}, {where}: \"history\" must be a list of the earlier questions (non-empty "
                           f"strings), got {history!r}")
    return tuple(history)


def _jsonl_answers(path: Path, where: str, answer: object) -> tuple[str, ...]:
    if answer is None:
        return ()
    values = answer if isinstance(answer, list) else [answer]
    if not values or not all(isinstance(v, str) and v.strip() for v in values):
        raise DatasetError(f"{path}, {where}: \"answer\" must be a non-empty string, a list of them, or null "
                           f"(out of the documents), got {answer!r}")
    return tuple(values)


# -------------------------------------------------------------------------------------------------------- SQuAD

def parse_squad(path: Path, data: dict) -> Dataset:
    """SQuAD 1.1/2.0: data → paragraphs (context) → qas (id, question, answers[].text, is_impossible)."""
    articles = data["data"]
    if not isinstance(articles, list):
        raise DatasetError(f"{path}: \"data\" must be a list of articles, got {type(articles).__name__}")
    questions: list[GoldQuestion] = []
    documents: list[SourceDocument] = []
    for a, article in enumerate(articles):
        where = f"data[{a}]"
        if not isinstance(article, dict):
            raise DatasetError(f"{path}, {where}: an article must be an object, got {type(article).__name__}")
        paragraphs = _require_list(path, where, article, "paragraphs")
        title = _article_title(path, where, article, a)
        name = f"{a:04d}_{_slug(title)}.txt"
        contexts = []
        for p, paragraph in enumerate(paragraphs):
            p_where = f"{where}.paragraphs[{p}]"
            if not isinstance(paragraph, dict):
                raise DatasetError(f"{path}, {p_where}: a paragraph must be an object, got {type(paragraph).__name__}")
            if not isinstance(paragraph.get("context"), str) or not paragraph["context"].strip():
                raise DatasetError(f"{path}, {p_where}: missing or empty \"context\" (a string)")
            contexts.append(_one_block(paragraph["context"]))
            for q, qa in enumerate(_require_list(path, p_where, paragraph, "qas")):
                questions.append(_squad_question(path, f"{p_where}.qas[{q}]", qa, name))
        if contexts:
            documents.append(SourceDocument(name, title, tuple(contexts)))
    return Dataset(path, SQUAD, _unique(path, questions), tuple(documents))


def _squad_question(path: Path, where: str, qa: object, document: str) -> GoldQuestion:
    if not isinstance(qa, dict):
        raise DatasetError(f"{path}, {where}: a qa must be an object, got {type(qa).__name__}")
    if "id" not in qa:
        raise DatasetError(f"{path}, {where}: missing field \"id\"")
    qa_id = _require_id(path, where, qa["id"])
    where = f"{where} (id {qa_id})"
    if "question" not in qa:
        raise DatasetError(f"{path}, {where}: missing field \"question\"")
    question = _require_question(path, where, qa["question"])
    impossible = qa.get("is_impossible", False)
    if not isinstance(impossible, bool):
        raise DatasetError(f"{path}, {where}: \"is_impossible\" must be true or false, got {impossible!r}")
    answers: tuple[str, ...] = ()
    if not impossible:
        raw = qa.get("answers")
        if not isinstance(raw, list) or not raw:
            raise DatasetError(f"{path}, {where}: \"answers\" must be a non-empty list unless \"is_impossible\" "
                               f"is true")
        texts = []
        for i, answer in enumerate(raw):
            if not isinstance(answer, dict) or not isinstance(answer.get("text"), str) or not answer["text"].strip():
                raise DatasetError(f"{path}, {where}: answers[{i}] needs a non-empty \"text\" string")
            texts.append(answer["text"])
        answers = tuple(dict.fromkeys(texts))  # SQuAD repeats the same span once per annotator
    language = qa.get("language") if isinstance(qa.get("language"), str) else detect_language(question)
    return GoldQuestion(qa_id, question, answers, language, document, where)


def _article_title(path: Path, where: str, article: dict, number: int) -> str:
    title = article.get("title", "")
    if not isinstance(title, str):
        raise DatasetError(f"{path}, {where}: \"title\" must be a string, got {type(title).__name__}")
    # One line that reads as a title (qa.documents.reading drops a first line ending with "." from titles).
    title = " ".join(title.replace("_", " ").split())[:200].rstrip(".").strip()
    return title or f"Article {number + 1}"


def _one_block(context: str) -> str:
    """A context stays one indexed paragraph: blank lines inside it would split it, and a short line without
    final punctuation would be read as a section heading (and not indexed), so such a line gets a period."""
    block = re.sub(r"\n\s*\n", "\n", context.strip())
    return block + "." if is_heading(block) and not block.startswith("#") else block


def _slug(title: str) -> str:
    slug = re.sub(r"[^\w-]+", "_", title, flags=re.UNICODE).strip("_")
    return slug[:60] or "article"


# ------------------------------------------------------------------------------------------------------ helpers

def _require_id(path: Path, where: str, value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip():
        raise DatasetError(f"{path}, {where}: \"id\" must be a non-empty string, got {value!r}")
    return str(value)


def _require_question(path: Path, where: str, value: object) -> str:
    if not isinstance(value, str):
        raise DatasetError(f"{path}, {where}: \"question\" must be a string, got {type(value).__name__}")
    try:
        return validate_question(value)
    except InvalidQuestionError as error:
        raise DatasetError(f"{path}, {where}: {error}") from error


def _require_list(path: Path, where: str, container: dict, key: str) -> list:
    value = container.get(key)
    if not isinstance(value, list):
        got = "missing" if key not in container else type(value).__name__
        raise DatasetError(f"{path}, {where}: \"{key}\" must be a list ({got})")
    return value


def _optional_string(path: Path, where: str, row: dict, key: str) -> str | None:
    value = row.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise DatasetError(f"{path}, {where}: \"{key}\" must be a non-empty string or absent, got {value!r}")
    return value.strip()


def _unique(path: Path, questions: list[GoldQuestion]) -> tuple[GoldQuestion, ...]:
    if not questions:
        raise DatasetError(f"{path}: the dataset holds no questions")
    seen: dict[str, str] = {}
    for question in questions:
        if question.id in seen:
            raise DatasetError(f"{path}, {question.source}: duplicate id {question.id!r} "
                               f"(first at {seen[question.id]})")
        seen[question.id] = question.source
    return tuple(questions)


def write_documents(dataset: Dataset, folder: Path) -> list[Path]:
    """The benchmark's articles as seed files in `folder`, ready for `qa.build_index`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for document in dataset.documents:
        path = folder / document.name
        path.write_text(document.text, encoding="utf-8")
        paths.append(path)
    return paths
