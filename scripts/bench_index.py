"""Indexing throughput: a whole `build_index` of the dev benchmark's articles, fp32 and with `--quantize int8`,
against bare `SentenceTransformer.encode` of exactly the texts it embeds, in the same run, alternating, medians.

    .venv/bin/python scripts/bench_index.py [--runs 3] [--no-int8]
    make bench-index

The ratio bare / build (≥ 1 would mean the build adds nothing) is what hoidap's indexing costs on top of the
model: splitting, BM25, writing and fsyncing a version; for int8 it is the speed-up of the whole build over the bare
fp32 library. The models are loaded once and shared; every build is from scratch (`force=True`, nothing reused).
The int8 export is a one-time cost (cached in the user cache), not in the timings: its duration is reported, with
the cosine of the int8 vectors to the bare fp32 ones. Writes eval-out/bench-index/report.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa import Embedder, build_index, read_documents, split_documents  # noqa: E402
from qa.evaluation.datasets import load_dataset, write_documents  # noqa: E402
from benchkit.timing import ratio, timed, write_report  # noqa: E402 — beside this file

DEV = ROOT.parent / "shared" / "benchmarks" / "xquad-dev" / "xquad-dev.vi.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-int8", dest="int8", action="store_false", help="time the fp32 build only")
    args = parser.parse_args()
    embedder = Embedder.load()
    int8 = Embedder.load(quantize="int8", log=print) if args.int8 else None
    timings: dict[str, list[float]] = {"bare": [], "build": [], "int8": []}
    with tempfile.TemporaryDirectory(prefix="bench-index-") as scratch:
        seeds = Path(scratch) / "seeds"
        write_documents(load_dataset(DEV), seeds)
        passages = split_documents(read_documents(seeds))
        texts = list(dict.fromkeys([p.text for p in passages] + [s.text for p in passages for s in p.sentences]))
        prompt = embedder.passage_prompt
        for run in range(args.runs):
            bare, seconds = timed(lambda: embedder.model.encode([prompt + t for t in texts],
                                                                batch_size=embedder.batch_size,
                                                                normalize_embeddings=True, convert_to_numpy=True))
            timings["bare"].append(seconds)
            for key, builder in (("build", embedder), ("int8", int8)):
                if builder is not None:
                    timings[key].append(timed(lambda: build_index(seeds, Path(scratch) / key, embedder=builder,
                                                                  force=True))[1])
            print(f"run {run + 1}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in timings.items() if v), flush=True)
        report = throughput(timings, len(passages), len(texts))
        if int8 is not None:
            cosine = np.sum(int8.encode_passages(texts) * bare, axis=1)
            report.update(int8_cosine_to_fp32={"mean": round(float(cosine.mean()), 4),
                                               "min": round(float(cosine.min()), 4)},
                          int8_export_s=round(int8.model.export.seconds, 1), int8_export_folder=str(int8.model.export.folder))
    print(json.dumps(report))
    write_report(ROOT / "eval-out" / "bench-index", report)


def throughput(timings: dict[str, list[float]], passages: int, texts: int) -> dict:
    """Medians, ratios to the bare encode and texts a second; the int8 figures only when it was timed."""
    bare, build = statistics.median(timings["bare"]), statistics.median(timings["build"])
    report = {"passages": passages, "texts": texts, "runs": len(timings["bare"]), "bare_encode_s": round(bare, 2),
              "build_index_s": round(build, 2), "ratio_bare_to_build": ratio(bare, build, 3),
              "texts_per_second_build": round(texts / build, 1), "texts_per_second_bare": round(texts / bare, 1)}
    if timings["int8"]:
        int8 = statistics.median(timings["int8"])
        report.update(build_index_int8_s=round(int8, 2), ratio_bare_to_int8_build=ratio(bare, int8, 3),
                      texts_per_second_int8_build=round(texts / int8, 1))
    return report


if __name__ == "__main__":
    main()
