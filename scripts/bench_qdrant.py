"""Dev figures for the Qdrant store against FAISS: the same vectors, the same questions, both languages.

    .venv/bin/python scripts/bench_qdrant.py [-k 5] [--out eval-out/bench-qdrant]
    make bench-qdrant

The dev benchmark's articles are indexed once into a FAISS folder; that version's vectors, passages, documents and
manifest are then written into a Qdrant collection in local mode (no re-embedding), so any difference between the
two is the store's. Every question (Vietnamese, and the same ones in English) is run through `run_questions`
against each store; the report has vi and en top-1, hit@k and MRR, each store's answer latency p50 (retrieval and
answer, as the eval measures it) and its retrieval-only p50, in OUT/report.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchkit.timing import ms, percentiles, samples_over, timed, write_report  # scripts/benchkit, beside this file
from qa.embedding.embeddings import Embedder, query_encoder
from qa.evaluation import load_dataset, with_questions_of
from qa.evaluation.datasets import write_documents
from qa.evaluation.metrics import summarize_by_language
from qa.evaluation.runner import run_questions
from qa.indexing.index import build_index
from qa.store.qdrant.writer import publish_version
from qa.retrieval.retriever import Retriever
from qa.store.local.store import IndexStore

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT.parent / "shared" / "benchmarks" / "xquad-dev"
TOLERANCE = 0.01  # the bound on |top-1(Qdrant) - top-1(FAISS)|


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", type=Path, default=DEV / "xquad-dev.vi.json")
    parser.add_argument("--questions", type=Path, default=DEV / "xquad-dev.en.json")
    parser.add_argument("-k", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("eval-out") / "bench-qdrant")
    args = parser.parse_args()

    dataset = with_questions_of(load_dataset(args.dataset), load_dataset(args.questions))
    embedder = Embedder.load()
    report: dict = {"dataset": str(args.dataset), "questions": str(args.questions), "k": args.k, "stores": {}}
    with tempfile.TemporaryDirectory(prefix="bench-qdrant-") as scratch:
        seeds, folder = Path(scratch) / "seeds", Path(scratch) / "faiss"
        write_documents(dataset, seeds)
        log(f"indexing {len(dataset.documents)} articles into FAISS…")
        build_index(seeds, folder, embedder=embedder)
        url = f"qdrant+path:{scratch}/qdrant/dev"
        report["qdrant_write_seconds"] = round(timed(lambda: copy_into_qdrant(folder, url))[1], 2)
        encoder = query_encoder(embedder)
        for name, location in (("faiss", folder), ("qdrant", url)):
            retriever = Retriever.load(location, embedder=encoder)
            try:
                report["stores"][name] = measure(name, retriever, dataset.questions, args.k)
            finally:
                retriever.store.close()
    faiss, qdrant = report["stores"]["faiss"], report["stores"]["qdrant"]
    report["top1_difference"] = {lang: round(abs(qdrant[lang]["hit_1"] - faiss[lang]["hit_1"]), 4)
                                 for lang in faiss if lang in qdrant and isinstance(faiss[lang], dict)}
    report["within_tolerance"] = all(d <= TOLERANCE for d in report["top1_difference"].values())
    path = write_report(args.out, report)
    print(json.dumps(report, ensure_ascii=False, indent=2))
    print(f"wrote {path}", file=sys.stderr)


def copy_into_qdrant(folder: Path, url: str) -> None:
    """The FAISS version at `folder`, written unchanged into a Qdrant collection (embedded once)."""
    store = IndexStore.load(folder)
    try:
        log(f"writing {len(store.passages)} passages into {url}…")
        publish_version(url, store.manifest, list(store.documents.values()), list(store.passages),
                        store.passage_vectors(), np.asarray(store.sentence_vectors))
    finally:
        store.close()


def measure(name: str, retriever: Retriever, questions, k: int) -> dict:
    """Per-language quality and latency of one store, plus its retrieval-only p50."""
    log(f"{name}: {len(questions)} questions…")
    rows = list(run_questions(questions, retriever, k))
    result = {lang: {"n": m.n, "hit_1": m.hit_1, "hit_k": m.hit_k, "mrr": m.mrr,
                     "answer_latency_p50_ms": m.latency_p50_ms}
              for lang, m in summarize_by_language(rows, k).items()}
    timings = ms(samples_over(lambda i: retriever.retrieve(questions[i].question, k), len(questions)))
    result["retrieval_p50_ms"] = round(percentiles(timings)["p50"], 2)
    return result


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
