"""The reader's training set, assembled from the data files: SQuAD v1.1 train and TyDi QA GoldP
(../shared/training, read in SQuAD format), the unanswerable pairs made from them, TyDi questions translated into
English, and the passages written for this project. `scripts/train_reader.py` trains on what `build_examples`
returns; each example is then cut into windows by `qa.reader.training.featurize`.
"""

from __future__ import annotations

import gzip
import json
import random
from collections import Counter
from pathlib import Path

from qa.reader.training import Example, WrittenArticle, swapped_question, usable_translation, without_answer

TRAINING = Path(__file__).resolve().parents[2].parent / "shared" / "training"
SQUAD = "squad-v1.1-train.en.json.gz"
TYDI = "tydiqa-goldp.json.gz"


def read_squad_format(path: Path) -> list[tuple[str, str, list[str], list[tuple[int, str, str, str]]]]:
    """(language, title, paragraphs, [(paragraph index, question, answer, id) per question]) per article."""
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        data = json.load(handle)["data"]
    articles = []
    for article in data:
        paragraphs, questions = [], []
        for p, paragraph in enumerate(article["paragraphs"]):
            paragraphs.append(paragraph["context"])
            for qa in paragraph["qas"]:
                if qa.get("answers"):
                    questions.append((p, qa["question"], qa["answers"][0]["text"], qa.get("id", "")))
        articles.append((article.get("language", "english"), article.get("title", ""), paragraphs, questions))
    return articles


def neighbours(articles, a: int, p: int, rng: random.Random) -> list[str]:
    """The other paragraphs of article `a`; for a one-paragraph article (TyDi), the paragraphs of three other
    articles in the same language."""
    language, _, paragraphs, _ = articles[a]
    others = [text for o, text in enumerate(paragraphs) if o != p]
    if not others:
        same = [b for b in range(len(articles)) if b != a and articles[b][0] == language]
        others = [text for b in rng.sample(same, min(3, len(same))) for text in articles[b][2]]
    return others


def unanswering(articles, a: int, p: int, answer: str, rng: random.Random) -> str | None:
    """A neighbouring paragraph (`neighbours`) that does not hold `answer`."""
    others = [text for text in neighbours(articles, a, p, rng) if answer.casefold() not in text.casefold()]
    return rng.choice(others) if others else None


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def written_source(path: Path) -> tuple[str, str]:
    """What a --written file is and its licence, for the card: passages written for this project are its own;
    SQuAD paragraphs translated into Vietnamese (rows of kind "translated") keep SQuAD's licence. ValueError for a
    file that mixes the two: one licence per file."""
    kinds = {row["kind"] == "translated" for row in read_jsonl(path)}
    if kinds == {True}:
        return ("SQuAD v1.1 train paragraphs translated into Vietnamese for this project, each with its English "
                "questions verbatim, their Vietnamese translations and questions written to be unanswerable",
                "CC BY-SA 4.0 (a translation of SQuAD v1.1 train)")
    if kinds == {False}:
        return ("Vietnamese passages with Vietnamese and English questions, some unanswerable, written for this "
                "project", "MIT (this project's own)")
    raise ValueError(f"{path}: translated and written rows in one file; keep them apart (their licences differ)")


def read_translations(path: Path) -> dict[str, str]:
    """Question id → its usable English translation."""
    return {r["id"]: r["english"] for r in read_jsonl(path) if usable_translation(r["question"], r["english"])}


def build_examples(squad_count: int, negatives: float, rng: random.Random, squad_offset: int = 0,
                   on_topic: float = 0.0, seed: int = 0, translations: dict[str, str] | None = None,
                   native_share: float = 1.0, swapped: float = 0.0, tydi_count: int | None = None,
                   written: list[WrittenArticle] | None = None,
                   written_repeat: int = 1) -> tuple[list[Example], Counter]:
    """All TyDi questions (or a seeded `tydi_count` of them; with `translations`: each translated one also asked
    in English over its passage, and only `native_share` of the questions kept in their own language),
    `squad_count` SQuAD questions (after the first `squad_offset` of the seeded shuffle), and unanswerable pairs
    from the same articles; then the `written` passages' questions, each `written_repeat` times."""
    counts: Counter = Counter()
    examples: list[Example] = []
    topic_rng = random.Random(f"on-topic {seed}")  # its own draws: the rest stays as it was without --on-topic
    cross_rng = random.Random(f"translated {seed}")  # likewise for --translated
    swap_rng = random.Random(f"swapped {seed}")  # and for --swapped
    tydi_rng = random.Random(f"tydi {seed}")  # and for --tydi
    sources = [(TYDI, "tydi", None), (SQUAD, "squad", squad_count)]
    for file, source, limit in sources:
        articles = read_squad_format(TRAINING / file)
        pool = [(a, q) for a, article in enumerate(articles) for q in article[3]]
        if limit is not None:
            rng.shuffle(pool)
            pool = pool[squad_offset:squad_offset + limit]
        elif tydi_count is not None:
            pool = tydi_rng.sample(pool, min(tydi_count, len(pool)))
        for a, (p, question, answer, qid) in pool:
            language, _, paragraphs, _ = articles[a]
            asked = [(source, question)]
            if translations and qid in translations:
                asked = [(f"{source} asked in English", translations[qid])]
                if cross_rng.random() < native_share:
                    asked.append((source, question))
            for kind, text in asked:
                examples.append(Example(kind, language, paragraphs[p], text, answer))
                counts[f"{kind} answerable"] += 1
                if rng.random() < negatives:
                    other = unanswering(articles, a, p, answer, rng)
                    if other is not None:
                        examples.append(Example(kind, language, other, text, None))
                        counts[f"{kind} unanswerable"] += 1
                if on_topic and topic_rng.random() < on_topic:
                    rest = without_answer(paragraphs[p], answer)
                    if rest is not None:
                        examples.append(Example(kind, language, rest, text, None))
                        counts[f"{kind} unanswerable, own paragraph without the answer"] += 1
                if swapped and swap_rng.random() < swapped:
                    donors = neighbours(articles, a, p, swap_rng)
                    changed = swapped_question(text, paragraphs[p], donors, swap_rng)
                    if changed is not None:
                        examples.append(Example(kind, language, paragraphs[p], changed, None))
                        counts[f"{kind} unanswerable, a name or number of the question swapped"] += 1
    examples += written_examples(written or [], negatives, written_repeat, random.Random(f"written {seed}"), counts)
    rng.shuffle(examples)
    return examples, counts


def written_examples(articles: list[WrittenArticle], negatives: float, repeat: int, rng: random.Random,
                     counts: Counter) -> list[Example]:
    """The written passages' questions as examples, `repeat` times over (a few hundred questions beside thousands
    of SQuAD's would otherwise barely count): the unanswerable ones as written, the answerable ones also against
    another passage of their article (`negatives` of them: a sibling paragraph of a document, else a passage of the
    same genre), as for SQuAD."""
    examples = []
    for _ in range(repeat):
        for a, (language, _, paragraphs, questions) in enumerate(articles):
            for p, question, answer, qid in questions:
                kind = "written asked in English" if qid.endswith(":en") else "written"
                examples.append(Example(kind, language, paragraphs[p], question, answer))
                counts[f"{kind} {'answerable' if answer is not None else 'unanswerable, written so'}"] += 1
                if answer is not None and rng.random() < negatives:
                    other = unanswering(articles, a, p, answer, rng)
                    if other is not None:
                        examples.append(Example(kind, language, other, question, None))
                        counts[f"{kind} unanswerable"] += 1
    return examples
