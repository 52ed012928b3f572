"""Stage 5: hybrid retrieval — dense FAISS search and BM25 candidates, each passage scored by its own cosine, its
best sentence's cosine and BM25, fused into one score (`qa.retrieval.fusion`, settings from the index manifest).

Why the best sentence: a single sentence that answers is a sharper match than a whole paragraph, and it is what
lifts cross-lingual questions. Why BM25 is scaled by the question: a passage that matches only the question's
everyday words must not outrank, in another language, the passage that answers (`FusionSettings.lexical_scale`).
Why the language matters: the model's query adapter (`qa.embedding.adapter`) scores a question against passages in
the other language, never against its own.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from qa.embedding.embeddings import Embedder, canonical_model_name
from qa.errors import IndexMismatchError, InvalidArgumentError, InvalidQuestionError
from qa.retrieval.fusion import fuse, lexical_weights_for, scale_lexical
from qa.language import detect_language
from qa.records import Citation, Hit, Passage, Scores, SearchResult
from qa.settings import RetrievalSettings
from qa.store.base import Candidates, Index, PassageStore
from qa.store.location import parse_index

MAX_QUESTION_CHARS = 2000
MAX_K = 50


def validate_question(question: str) -> str:
    """The question NFC-normalised (a decomposed "à" is the same question as a precomposed one) and stripped of
    surrounding white space, or `InvalidQuestionError`. A question with nothing visible in it (only white space,
    zero-width, bidi, control or lone combining characters) counts as empty: it would otherwise be answered from
    whichever passage happens to lie closest to nothing."""
    if not isinstance(question, str) or not has_visible_text(question):
        raise InvalidQuestionError("The question is empty: type a question.", "empty")
    question = unicodedata.normalize("NFC", question).strip()
    try:
        question.encode("utf-8")
    except UnicodeEncodeError as error:  # a lone surrogate: no tokenizer or file can hold it
        raise InvalidQuestionError(f"The question holds invalid Unicode at character {error.start + 1} "
                                   f"({question[error.start]!r}, a lone surrogate); retype it.",
                                   "invalid_unicode") from None
    if len(question) > MAX_QUESTION_CHARS:
        raise InvalidQuestionError(
            f"The question is {len(question)} characters long; the limit is {MAX_QUESTION_CHARS}.", "too_long")
    return question


def has_visible_text(text: str) -> bool:
    """Whether `text` holds a letter, digit, punctuation mark or symbol (Unicode categories L, N, P, S)."""
    return any(unicodedata.category(char)[0] in "LNPS" for char in text)


def validate_k(k: int) -> int:
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_K:
        raise InvalidArgumentError(f"k must be a whole number from 1 to {MAX_K}, got {k!r}.")
    return k


class Retriever:
    """Loads an index and its model once; `search` is then cheap enough to call per keystroke."""

    def __init__(self, store: PassageStore, embedder: Embedder, settings: RetrievalSettings | None = None):
        if embedder.dimension != store.manifest.dimension:
            raise IndexMismatchError(f"The model {embedder.name} gives {embedder.dimension}-dimensional vectors but "
                                     f"the index holds {store.manifest.dimension}-dimensional ones.")
        self.store = store
        self.embedder = embedder
        self.settings = settings or RetrievalSettings.from_dict(store.manifest.retrieval)  # as saved with the index

    @classmethod
    def load(cls, index_dir: Path | str | Index = "index", model: str | None = None, *,
             embedder: Embedder | None = None, settings: RetrievalSettings | None = None) -> "Retriever":
        """Open `index_dir` (a folder or a Qdrant URL) with the model it was built with (asking for another model
        is an error) and the retrieval settings saved with it, unless `settings` overrides them."""
        index = parse_index(index_dir)
        return cls.over(index, index.open(), model, embedder=embedder, settings=settings)

    @classmethod
    def over(cls, index: Index, store: PassageStore, model: str | None = None, *, embedder: Embedder | None = None,
             settings: RetrievalSettings | None = None) -> "Retriever":
        """`load` for a version of `index` already opened (`Index.open`); the retriever owns `store` from here, and
        closes it when the model does not fit."""
        try:
            if embedder is None:
                if model is not None and canonical_model_name(model) != store.manifest.model:
                    raise IndexMismatchError(f"{index} was built with {store.manifest.model}, not {model}. "
                                             + index.rebuild_hint() + f" --model {model}")
                embedder = Embedder.load(store.manifest.model, for_queries=True)
            elif embedder.name != store.manifest.model:
                raise IndexMismatchError(f"{index} was built with {store.manifest.model}, not {embedder.name}. "
                                         + index.rebuild_hint())
            return cls(store, embedder, settings)
        except BaseException:
            store.close()
            raise

    @property
    def passages(self) -> Sequence[Passage]:
        return self.store.passages

    def search(self, question: str, k: int = 5) -> list[Hit]:
        return self.retrieve(question, k).hits

    def retrieve(self, question: str, k: int = 5) -> SearchResult:
        """Hits plus the detected language: what `qa search --json` prints."""
        question = validate_question(question)
        k = validate_k(k)
        language = detect_language(question)
        query_vector = self.embedder.encode_queries([question])[0]
        return SearchResult(question, language, self.rank(question, language, query_vector, k), query_vector,
                            self.store.version)

    def candidates(self, question: str, language: str, query_vector: np.ndarray, depth: int) -> Candidates:
        """The passages fusion ranks, with their raw signals: the store's dense and BM25 candidates, those in another
        language scored with the adapted vector (`bridged`). `scripts/fit_fusion.py` fits the fusion on these."""
        found = self.store.candidates(question, query_vector, depth)
        adapter = self.embedder.query_adapter
        if adapter is not None and adapter.covers(language) and any(lang != language for lang in found.languages):
            found = bridged(found, self.store.candidates(question, adapter(query_vector, language), depth), language)
        return found

    def rank(self, question: str, language: str, query_vector: np.ndarray, k: int) -> list[Hit]:
        found = self.candidates(question, language, query_vector, max(self.settings.candidates, k))
        if not len(found.rows):
            return []
        scale_by_question = self.settings.fusion.lexical_scale == "question"
        lexical_scaled = scale_lexical(found.lexical,
                                       self.store.attainable_lexical(question) if scale_by_question else None)
        same_language = np.array([lang == language for lang in found.languages], dtype=bool)
        fused = fuse(found.dense, found.sentence, lexical_scaled, same_language, self.settings.fusion)
        weights = lexical_weights_for(same_language, self.settings.fusion)
        order = np.argsort(-fused, kind="stable")[:k]
        hits = []
        for rank, (position, passage) in enumerate(zip(order, self.store.passages.at(found.rows[order])), start=1):
            hits.append(Hit(
                rank=rank, score=float(fused[position]), passage_id=passage.id, text=passage.text,
                citation=Citation.of(passage),
                scores=Scores(dense=float(found.dense[position]), sentence=float(found.sentence[position]),
                              lexical=float(lexical_scaled[position]), lexical_weight=float(weights[position])),
                best_sentence=int(found.best_sentence[position]), passage=passage))
        return hits


def bridged(own: Candidates, mapped: Candidates, language: str) -> Candidates:
    """One candidate list from two searches: passages in the question's `language` as its own vector found and
    scored them, passages in any other language as the adapted vector did (`qa.embedding.adapter`). The two
    parts are disjoint by language; BM25 proposes the same rows to both searches, so none of its matches is lost."""
    keep_own = np.array([lang == language for lang in own.languages], dtype=bool)
    keep_mapped = np.array([lang != language for lang in mapped.languages], dtype=bool)

    def joined(field: str) -> np.ndarray:
        return np.concatenate([getattr(own, field)[keep_own], getattr(mapped, field)[keep_mapped]])

    languages = [lang for lang, keep in zip(own.languages, keep_own) if keep]
    languages += [lang for lang, keep in zip(mapped.languages, keep_mapped) if keep]
    return Candidates(joined("rows"), languages, joined("dense"), joined("sentence"), joined("best_sentence"),
                      joined("lexical"))
