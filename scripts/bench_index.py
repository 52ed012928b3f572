"""Indexing throughput: a whole `build_index` of the dev benchmark's articles against bare
`SentenceTransformer.encode` of exactly the texts it embeds, in the same run, alternating, medians.

    .venv/bin/python scripts/bench_index.py [--runs 3]
    make bench-index

The ratio bare / build (≥ 1 would mean the build adds nothing) is what hoidap's indexing costs on top of the
model: splitting, BM25, writing and fsyncing a version. The model is loaded once and shared; every build is from
scratch (`force=True`, nothing reused). Writes eval-out/bench-index/report.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa import Embedder, build_index, read_documents, split_documents  # noqa: E402
from qa.evaluation.datasets import load_dataset, write_documents  # noqa: E402

DEV = ROOT.parent / "shared" / "benchmarks" / "xquad-dev" / "xquad-dev.vi.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    embedder = Embedder.load()
    with tempfile.TemporaryDirectory(prefix="bench-index-") as scratch:
        seeds = Path(scratch) / "seeds"
        write_documents(load_dataset(DEV), seeds)
        passages = split_documents(read_documents(seeds))
        texts = list(dict.fromkeys([p.text for p in passages] + [s.text for p in passages for s in p.sentences]))
        prompt = embedder.passage_prompt
        builds, bares = [], []
        for run in range(args.runs):
            started = time.perf_counter()
            embedder.model.encode([prompt + t for t in texts], batch_size=embedder.batch_size,
                                  normalize_embeddings=True, convert_to_numpy=True)
            bares.append(time.perf_counter() - started)
            started = time.perf_counter()
            build_index(seeds, Path(scratch) / "index", embedder=embedder, force=True)
            builds.append(time.perf_counter() - started)
            print(f"run {run + 1}: bare encode {bares[-1]:.1f} s, build_index {builds[-1]:.1f} s", flush=True)
    bare, build = statistics.median(bares), statistics.median(builds)
    report = {"passages": len(passages), "texts": len(texts), "bare_encode_s": round(bare, 2),
              "build_index_s": round(build, 2), "ratio_bare_to_build": round(bare / build, 3),
              "texts_per_second_build": round(len(texts) / build, 1),
              "texts_per_second_bare": round(len(texts) / bare, 1)}
    print(json.dumps(report))
    out = ROOT / "eval-out" / "bench-index"
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
