"""How long `qa ask` takes to start, on the seed corpus and on the dev benchmark's 24 articles.

Three timings per corpus, medians over repeated runs:
  open index   `IndexStore.load` + `Retriever` in-process with the model already loaded (what persisting the BM25
               index and memory-mapping the vectors changed)
  qa ask       the whole command in a new process: Python, imports, model, index, one answer
  bare         the bare libraries doing the same work in a new process: sentence-transformers loads the same model
               and encodes the question, FAISS reads the same vectors and searches them (no BM25, no answer)
The ratio qa ask / bare is the overhead hoidap adds; absolute times drift on a shared machine.

    python scripts/bench_startup.py [--runs 5] [--opens 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import qa  # noqa: E402
from qa import Embedder, IndexStore, Retriever, build_index  # noqa: E402
from qa.default_model import prepare_default_model  # noqa: E402
from qa.evaluation.datasets import load_dataset, write_documents  # noqa: E402

DEV = ROOT.parent / "shared" / "benchmarks" / "xquad-dev" / "xquad-dev.vi.json"
QUESTION = "Hiệp định ngừng bắn được ký ở đâu?"
BARE = """
import sys, faiss, numpy as np
from sentence_transformers import SentenceTransformer
model = SentenceTransformer(sys.argv[1], device="cpu")
index = faiss.read_index(sys.argv[2], faiss.IO_FLAG_MMAP)
vector = model.encode(["query: " + sys.argv[3]], normalize_embeddings=True)
print(index.search(np.asarray(vector, dtype="float32"), 5)[1][0][0])
"""


def median_seconds(action, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def run(command: list[str]) -> None:
    subprocess.run(command, check=True, capture_output=True)


def measure(name: str, seeds: Path, index: Path, embedder: Embedder, runs: int, opens: int) -> dict:
    build_index(seeds, index, embedder=embedder)
    passages = len(IndexStore.load(index).passages)

    def open_index() -> None:
        Retriever(IndexStore.load(index), embedder)

    current_version = getattr(qa, "current_version", lambda folder: None)  # absent before versioned indexes
    version = index / "versions" / (current_version(index) or "") / "passages.faiss"
    faiss_file = version if version.exists() else index / "passages.faiss"  # the format-1 layout
    ask = [sys.executable, "-m", "qa", "ask", "--seeds", str(seeds), "--index", str(index), "--json", QUESTION]
    bare = [sys.executable, "-c", BARE, str(prepare_default_model()), str(faiss_file), QUESTION]
    run(ask)  # warm the page cache for both
    run(bare)
    result = {"corpus": name, "passages": passages,
              "open_index_ms": round(1000 * median_seconds(open_index, opens), 2),
              "qa_ask_s": round(median_seconds(lambda: run(ask), runs), 3),
              "bare_s": round(median_seconds(lambda: run(bare), runs), 3)}
    result["ratio"] = round(result["qa_ask_s"] / result["bare_s"], 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each command (median reported)")
    parser.add_argument("--opens", type=int, default=20, help="in-process index opens (median reported)")
    args = parser.parse_args()
    embedder = Embedder.load()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        rows.append(measure("seed", ROOT / "seeds", Path(scratch) / "seed-index", embedder, args.runs, args.opens))
        if DEV.exists():
            dev_seeds = Path(scratch) / "dev-seeds"
            write_documents(load_dataset(DEV), dev_seeds)
            rows.append(measure("xquad-dev", dev_seeds, Path(scratch) / "dev-index", embedder, args.runs,
                                args.opens))
    print("| corpus | passages | open index (ms) | qa ask (s) | bare libraries (s) | ratio |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['corpus']} | {row['passages']} | {row['open_index_ms']} | {row['qa_ask_s']} | "
              f"{row['bare_s']} | {row['ratio']} |")
    out = ROOT / "eval-out" / "bench-startup"
    out.mkdir(parents=True, exist_ok=True)
    (out / "startup.json").write_text(json.dumps(rows, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
