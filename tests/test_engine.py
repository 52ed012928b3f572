"""The engine's thread-safety contract: concurrent requests, slots, and reloads that swap everything at once.

Most tests run over small indexes built with a hashing stand-in for the embedding model (quick, and like a real
tokenizer not safe to call from two threads at once); one runs the real model on the seed index.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import qa
from qa import AnswerSettings, Assistant, Embedder, Engine, LLMSettings, RetrievalSettings, Retriever, build_index
from qa.engine import EngineBusyError
from qa.settings import FusionSettings

DOCUMENTS = {
    "armenia.md": "# Armenia\n\nThủ đô của Armenia là Yerevan. Yerevan nằm bên sông Hrazdan.\n\n"
                  "Armenia giáp Gruzia ở phía bắc.\n",
    "azerbaijan.md": "# Azerbaijan\n\nThủ đô của Azerbaijan là Baku. Baku nằm bên bờ biển Caspi.\n\n"
                     "Aliev trở thành Tổng thống Azerbaijan năm 1993.\n",
    "ceasefire.txt": "Hiệp định ngừng bắn được ký tại Moscow vào tháng 5 năm 1994.\n\n"
                     "Lãnh đạo Armenia, Azerbaijan và Nga gặp nhau tại Moscow.\n",
}
GEORGIA = "# Gruzia\n\nThủ đô của Gruzia là Tbilisi. Tbilisi nằm bên sông Kura.\n"
QUESTIONS = ["Thủ đô của Armenia là gì?", "Baku nằm ở đâu?", "Hiệp định ngừng bắn được ký ở đâu?",
             "Ai trở thành Tổng thống năm 1993?", "Where did the leaders meet?", "Sông Hrazdan chảy qua đâu?"]


class HashingModel:
    """Stands in for a sentence-transformers model: a text's vector counts its hashed words. Like a real
    tokenizer it keeps working state on the instance (one scratch buffer), so two encode calls at once garble
    each other's vectors; `most_at_once` records how many ever overlapped."""

    dimension = 64
    prompts = {"query": "query: ", "passage": "passage: "}

    def __init__(self) -> None:
        self.scratch = np.zeros(self.dimension, dtype=np.float32)
        self.running = 0
        self.most_at_once = 0

    def get_embedding_dimension(self) -> int:
        return self.dimension

    def encode(self, texts, prompt_name=None, batch_size=32, normalize_embeddings=True, convert_to_numpy=True,
               show_progress_bar=False) -> np.ndarray:
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            return np.stack([self._vector(text) for text in texts])
        finally:
            self.running -= 1

    def _vector(self, text: str) -> np.ndarray:
        self.scratch[:] = 0
        for word in re.findall(r"\w+", text.lower()):
            self.scratch[int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dimension] += 1.0
            time.sleep(0.0002)  # native tokenizer code lets other threads run meanwhile
        norm = float(np.linalg.norm(self.scratch))
        return self.scratch / norm if norm else self.scratch.copy()


@pytest.fixture
def hashing() -> Embedder:
    return Embedder("test/hashing-words", HashingModel())


@pytest.fixture
def corpus(tmp_path, hashing):
    """(seeds folder, index folder) of the three small documents, indexed with the hashing model."""
    seeds, index = tmp_path / "seeds", tmp_path / "index"
    seeds.mkdir()
    for name, text in DOCUMENTS.items():
        (seeds / name).write_text(text, encoding="utf-8")
    build_index(seeds, index, embedder=hashing)
    return seeds, index


def rebuild_with_georgia(seeds, index, embedder, retrieval: RetrievalSettings | None = None) -> None:
    (seeds / "georgia.md").write_text(GEORGIA, encoding="utf-8")
    time.sleep(0.01)  # a new manifest time, hence a new version, on coarse file-system clocks too
    build_index(seeds, index, embedder=embedder, retrieval=retrieval)


def documents_found(engine: Engine, question: str = "Thủ đô của Gruzia là Tbilisi?") -> set[str]:
    return {hit.citation.document for hit in engine.search(question, k=10).hits}


def in_threads(work, items, threads: int = 8) -> list:
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(work, items))


# ---------------------------------------------------------------------------------------------- concurrency

def test_the_embedder_never_runs_two_encodes_at_once(hashing):
    in_threads(lambda text: hashing.encode_queries([text]), QUESTIONS * 4)
    assert hashing.model.most_at_once == 1


def test_concurrent_requests_give_the_same_results_as_sequential_ones(corpus, hashing):
    engine = Engine(Retriever.load(corpus[1], embedder=hashing), max_concurrent=8)
    questions = QUESTIONS * 4
    searched = [engine.search(q, k=3).to_dict() for q in questions]
    asked = [engine.ask(q, k=3).to_dict() for q in questions]
    assert in_threads(lambda q: engine.search(q, k=3).to_dict(), questions) == searched
    assert in_threads(lambda q: engine.ask(q, k=3).to_dict(), questions) == asked
    assert engine.busy == 0


@pytest.mark.slow
def test_concurrent_searches_with_the_real_model_match_sequential_ones(retriever):
    engine = Engine(retriever, max_concurrent=8)
    questions = QUESTIONS * 2
    sequential = [engine.search(q, k=5).to_dict() for q in questions]
    assert in_threads(lambda q: engine.search(q, k=5).to_dict(), questions) == sequential


def test_the_first_load_runs_once_however_many_requests_wait_for_it(corpus, hashing):
    loads = []

    def load() -> Assistant:
        loads.append(threading.current_thread().name)
        time.sleep(0.2)
        return Assistant(Retriever.load(corpus[1], embedder=hashing))

    engine = Engine(load, max_concurrent=8)
    assert not engine.loaded
    results = in_threads(lambda q: engine.search(q, k=2).to_dict(), QUESTIONS)
    assert len(loads) == 1 and len(results) == len(QUESTIONS) and engine.loaded


def test_a_failed_first_load_is_reported(tmp_path):
    engine = Engine.open(tmp_path / "no-index")
    with pytest.raises(qa.IndexNotFoundError):
        engine.search("Baku nằm ở đâu?")
    assert isinstance(engine.last_error, qa.IndexNotFoundError) and not engine.loaded


# ------------------------------------------------------------------------------------------------- slots

class Endless:
    """An answerer that streams words until it is closed, and says when it was."""

    passages = 3

    def __init__(self) -> None:
        self.closed = threading.Event()

    def stream(self, result, k):
        try:
            for n in range(10_000):
                yield f"từ{n} "
        finally:
            self.closed.set()


def test_closing_a_stream_half_way_releases_its_slot_and_stops_the_answerer(corpus, hashing):
    answerer = Endless()
    engine = Engine(Assistant(Retriever.load(corpus[1], embedder=hashing), answerer=answerer),
                    max_concurrent=1, wait_seconds=0.2)
    stream = engine.stream("Baku nằm ở đâu?")
    assert next(stream) == "từ0 " and engine.busy == 1
    started = time.monotonic()
    with pytest.raises(EngineBusyError):
        engine.search("Baku nằm ở đâu?")  # the one slot is taken: the request waits, then is turned away
    assert 0.15 < time.monotonic() - started < 2
    stream.close()  # a client went away
    assert engine.busy == 0 and answerer.closed.is_set()
    assert engine.search("Baku nằm ở đâu?", k=1).hits


def test_the_final_answer_comes_after_the_slot_is_released(corpus, hashing):
    engine = Engine(Retriever.load(corpus[1], embedder=hashing), max_concurrent=1)
    busy_at = [(type(event).__name__, engine.busy) for event in engine.stream("Baku nằm ở đâu?")]
    assert busy_at[-1] == ("Answer", 0) and all(busy == 1 for _, busy in busy_at[:-1])


# ------------------------------------------------------------------------------------------------ reloads

def test_a_reload_keeps_the_callers_retrieval_answer_and_llm_settings_and_the_model(corpus, hashing):
    seeds, index = corpus
    custom = RetrievalSettings(candidates=7, fusion=FusionSettings(mode="rrf"))
    answer_settings = AnswerSettings(passages=2, min_confidence=0.5)
    llm = LLMSettings(url="http://127.0.0.1:9/v1", model="m")
    first = Assistant(Retriever.load(index, embedder=hashing, settings=custom), settings=answer_settings, llm=llm)
    engine = Engine(first, index_dir=index, recheck_seconds=0)
    assert engine.assistant() is first
    rebuild_with_georgia(seeds, index, hashing)
    reloaded = engine.assistant()
    assert reloaded is not first and "georgia.md" in documents_found(engine)
    assert reloaded.retriever.settings == custom
    assert (reloaded.settings, reloaded.llm) == (answer_settings, llm)
    assert reloaded.retriever.embedder is hashing  # the model is not loaded again


def test_without_custom_settings_a_reload_takes_the_rebuilt_indexs_own(corpus, hashing):
    seeds, index = corpus
    engine = Engine(lambda: Assistant(Retriever.load(index, embedder=hashing)), index_dir=index, recheck_seconds=0)
    assert engine.assistant().retriever.settings == RetrievalSettings()
    rrf = RetrievalSettings(fusion=FusionSettings(mode="rrf"))
    rebuild_with_georgia(seeds, index, hashing, retrieval=rrf)  # `qa index --fusion rrf`
    assert engine.assistant().retriever.settings == rrf


def test_an_explicit_retrieval_setting_survives_every_reload(corpus, hashing):
    seeds, index = corpus
    custom = RetrievalSettings(candidates=9)
    engine = Engine(lambda: Assistant(Retriever.load(index, embedder=hashing, settings=custom)), index_dir=index,
                    retrieval=custom, recheck_seconds=0)
    engine.assistant()
    rebuild_with_georgia(seeds, index, hashing, retrieval=RetrievalSettings(candidates=3))
    assert engine.assistant().retriever.settings == custom
    (seeds / "georgia.md").write_text(GEORGIA + "\nTbilisi là thành phố lớn nhất Gruzia.\n", encoding="utf-8")
    build_index(seeds, index, embedder=hashing)
    assert engine.assistant().retriever.settings == custom


def test_a_reload_swaps_to_the_new_index_only_once_it_is_fully_loaded(corpus, hashing, monkeypatch):
    seeds, index = corpus
    engine = Engine(Retriever.load(index, embedder=hashing), index_dir=index, recheck_seconds=0, max_concurrent=4)
    old, old_version = engine.assistant(), engine.version
    in_flight = engine.stream("Thủ đô của Gruzia là Tbilisi?", k=10)
    next(in_flight)  # a request under way on the old index
    rebuild_with_georgia(seeds, index, hashing)

    loaded, release = threading.Event(), threading.Event()
    real_load = Retriever.load

    def slow_load(*args, **kwargs):
        retriever = real_load(*args, **kwargs)
        loaded.set()
        assert release.wait(10)
        return retriever

    monkeypatch.setattr(Retriever, "load", slow_load)
    reloading = ThreadPoolExecutor(1).submit(engine.assistant)
    assert loaded.wait(10)
    # The new index is read but not yet published: every request still gets the old one, whole.
    assert engine.assistant() is old and engine.version == old_version
    assert "georgia.md" not in documents_found(engine)
    release.set()
    new = reloading.result(10)
    assert new is not old and engine.assistant() is new and engine.version != old_version
    assert "georgia.md" in documents_found(engine)
    answer = qa.final_answer(in_flight)  # the request that started before the swap ends on the old index
    assert "georgia.md" not in {hit.citation.document for hit in answer.hits}


def test_a_rebuilt_index_that_cannot_be_used_keeps_the_old_one(corpus, hashing):
    seeds, index = corpus
    engine = Engine(Retriever.load(index, embedder=hashing), index_dir=index, recheck_seconds=0)
    old = engine.assistant()
    other = Embedder("test/another-model", HashingModel())
    rebuild_with_georgia(seeds, index, other)  # built with another model: the loaded one cannot read it
    assert engine.assistant() is old and "georgia.md" not in documents_found(engine)


def test_versions_are_checked_at_most_every_recheck_seconds(corpus, hashing):
    seeds, index = corpus
    engine = Engine(Retriever.load(index, embedder=hashing), index_dir=index, recheck_seconds=60)
    old = engine.assistant()
    rebuild_with_georgia(seeds, index, hashing)
    assert engine.assistant() is old  # not checked yet
    engine.recheck_seconds = 0
    assert engine.assistant() is not old
