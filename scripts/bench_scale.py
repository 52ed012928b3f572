"""Scale: index versions of 10k, 100k and 1M passages, exact and approximate FAISS, measured in fresh processes.

    .venv/bin/python scripts/bench_scale.py [--sizes 10000 100000 1000000] [--queries 200]
    make bench-scale

The corpus: the dev benchmark's articles (both languages) are indexed with the real model once; every synthetic
passage then joins 2–5 of their real sentences (same language) into a new paragraph, 20 paragraphs a document.
Vectors are injected, not embedded (a million passages would take days on two cores): each sentence keeps its
real vector plus a little noise, and a passage's vector is the normalised mean of its sentences' vectors (plus
noise). The questions are the dev questions in both languages, embedded once with the real model.

Per size, one build (SQLite tables, BM25, vectors, exact FAISS) timed in-process, plus the IVF index built
beside it; then per index kind a fresh process opens the version and asks every question through
`Retriever.rank` (dense + BM25 + fusion; the question's embedding excluded), next to bare FAISS search and bare
bm25s scoring of the same question on the same files (memory is read after hoidap's questions, before the bare
libraries map the same files again). ANN recall@10 is the approximate index's top-10 against exact search over
the same vectors. The largest approximate index is then asked again in a memory cgroup of --memory-cap MB (3 GB),
from an emptied page cache (needs root; otherwise the report says it did not run).
Writes eval-out/bench-scale/{report.json,report.md,scale.png}.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.store.local import versions  # noqa: E402
import scale_report  # noqa: E402 — the table and the plot, beside this file
from benchkit.timing import ms, percentiles, ratio, samples_over, timed, write_report  # noqa: E402 — beside it too
from qa.records import Document, Passage, Sentence  # noqa: E402
from qa.store.local.store import (FORMAT_VERSION, LEXICAL, MANIFEST, PASSAGE_INDEX, IndexStore, Manifest,  # noqa: E402
                      make_faiss_index, write_version)

DEV = ROOT.parent / "shared" / "benchmarks" / "xquad-dev"
OUT = ROOT / "eval-out" / "bench-scale"
PER_DOCUMENT = 20
PROBE_SHARES = (0.005, 0.01, 0.02, 0.05, 0.1)
NOISE = 0.01  # per component: a noisy copy keeps a cosine of about 0.98 with its source vector


def sentence_pool(scratch: Path, questions: int) -> dict:
    """Real sentences with their real vectors, and real questions with theirs, from the dev articles."""
    from qa import Embedder, build_index
    from qa.evaluation.datasets import load_dataset, write_documents
    from qa.language import detect_language

    embedder = Embedder.load()
    datasets = {language: load_dataset(DEV / f"xquad-dev.{language}.json") for language in ("vi", "en")}
    for language, dataset in datasets.items():
        write_documents(dataset, scratch / "seeds" / language)
    build_index(scratch / "seeds", scratch / "dev-index", embedder=embedder)
    store = IndexStore.load(scratch / "dev-index")
    texts, languages = [], []
    for passage in store.passages:
        texts += [s.text for s in passage.sentences]
        languages += [passage.language] * len(passage.sentences)
    vectors = np.asarray(store.sentence_vectors, dtype=np.float32)
    store.close()
    asked = [q.question for dataset in datasets.values() for q in dataset.questions]
    asked = [asked[i] for i in np.random.default_rng(1).permutation(len(asked))[:questions]]
    return {"texts": texts, "languages": languages, "vectors": vectors, "questions": asked,
            "question_languages": [detect_language(q) for q in asked],
            "question_vectors": embedder.encode_queries(asked)}


def noisy(rng: np.random.Generator, vectors: np.ndarray, rows: np.ndarray | None = None,
          out: np.ndarray | None = None) -> np.ndarray:
    """Normalised copies of `vectors[rows]` with noise added, made a block at a time into `out` (a million
    passages hold about 3.5 million sentences: 5 GB of vectors, kept in a memory-mapped file)."""
    rows = np.arange(len(vectors)) if rows is None else rows
    out = np.empty((len(rows), vectors.shape[1]), dtype=np.float32) if out is None else out
    for start in range(0, len(rows), 200_000):
        block = vectors[rows[start:start + 200_000]]
        block += NOISE * rng.standard_normal(block.shape, dtype=np.float32)
        out[start:start + len(block)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def synthesise(pool: dict, n: int, scratch: Path, seed: int = 0
               ) -> tuple[list[Document], list[Passage], np.ndarray, np.ndarray]:
    """n passages recombined from the pool's sentences, with their documents and injected vectors."""
    rng = np.random.default_rng(seed)
    by_language = {lang: np.flatnonzero(np.array(pool["languages"]) == lang) for lang in ("vi", "en")}
    counts = rng.integers(2, 6, size=n)
    languages = np.where(rng.random(n) < len(by_language["vi"]) / len(pool["texts"]), "vi", "en")
    chosen = [rng.choice(by_language[lang], size=c) for lang, c in zip(languages, counts)]
    flat = np.concatenate(chosen)
    sentence_vectors = noisy(rng, pool["vectors"], flat, np.lib.format.open_memmap(
        scratch / f"{n}-sentences.npy", mode="w+", dtype=np.float32, shape=(len(flat), pool["vectors"].shape[1])))
    offsets = np.concatenate([[0], np.cumsum(counts)])
    sums = np.add.reduceat(sentence_vectors, offsets[:-1], axis=0)
    passage_vectors = noisy(rng, sums / np.linalg.norm(sums, axis=1, keepdims=True))
    documents, passages = [], []
    for first in range(0, n, PER_DOCUMENT):
        name = f"synthetic-{first // PER_DOCUMENT:07d}.txt"
        parts, cursor, own = [], 0, []
        for row in range(first, min(n, first + PER_DOCUMENT)):
            sentences, start = [], cursor
            for index in chosen[row]:
                text = pool["texts"][index]
                sentences.append(Sentence(text, cursor, cursor + len(text)))
                cursor += len(text) + 1
            text = " ".join(s.text for s in sentences)
            own.append(Passage(id=f"{name}#{row - first + 1}.1", document=name, title=name, section=None,
                               paragraph=row - first + 1, start=start, end=start + len(text), text=text,
                               sentences=tuple(sentences), language=str(languages[row])))
            parts.append(text)
            cursor += 1  # the blank line's second newline
        documents.append(Document(name, "\n\n".join(parts), name, str(languages[first]), f"{first:064x}"))
        passages += own
    return documents, passages, passage_vectors, sentence_vectors


def build(root: Path, documents: list[Document], passages: list[Passage], passage_vectors: np.ndarray,
          sentence_vectors: np.ndarray) -> float:
    """One published exact version at `root`; returns its build seconds (tables, BM25, vectors, FAISS, fsync)."""
    manifest = Manifest(FORMAT_VERSION, "intfloat/multilingual-e5-small", passage_vectors.shape[1], {}, {},
                        {"documents": len(documents), "passages": len(passages),
                         "sentences": len(sentence_vectors)}, "", {}, "", 0.0, {}, "passage: ")

    def publish() -> None:
        staging = versions.new_staging(root)
        write_version(staging, manifest, documents, passages, passage_vectors, sentence_vectors, kind="exact")
        versions.publish(root, staging)

    return timed(publish)[1]


def derive_approximate(exact_root: Path, root: Path, passage_vectors: np.ndarray) -> float:
    """A version sharing the exact one's files (hard links) with an IVF index instead; returns FAISS seconds."""
    import faiss

    source = versions.version_path(exact_root, versions.current_version(exact_root))
    staging = versions.new_staging(root)
    for path in source.rglob("*"):
        target = staging / path.relative_to(source)
        if path.is_dir():
            target.mkdir(exist_ok=True)
        elif path.name not in (PASSAGE_INDEX, MANIFEST, versions.PIN):
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(path, target)

    def write_index():
        index = make_faiss_index(passage_vectors, "approximate")
        faiss.write_index(index, str(staging / PASSAGE_INDEX))
        return index

    index, seconds = timed(write_index)
    manifest = Manifest.read_version(source, exact_root)
    files = {**manifest.files, PASSAGE_INDEX: (staging / PASSAGE_INDEX).stat().st_size}
    final = replace(manifest, files=files, index_type=type(index).__name__)
    (staging / MANIFEST).write_text(json.dumps(asdict(final), indent=2), encoding="utf-8")
    versions.publish(root, staging)
    return seconds


def measure(index: Path, queries: Path, exact_hits: Path | None) -> dict:
    """In a fresh process: open the version, ask every question, compare with the bare libraries."""
    import faiss

    from qa import Embedder, Retriever

    data = np.load(queries, allow_pickle=False)
    texts, languages, vectors = list(data["questions"]), list(data["languages"]), data["vectors"]
    store, load_s = timed(lambda: IndexStore.load(index))
    rss_open = _rss("VmRSS")
    retriever = Retriever(store, Embedder.load(for_queries=True))
    depth = retriever.settings.candidates

    def latency(call) -> dict[str, float]:
        """p50 and p95 ms of a call a question, after an untimed pass (the first would pay for the page faults)."""
        return percentiles(ms(samples_over(call, len(texts), warmup=len(texts))))

    hits: list[list[str]] = []
    ours = latency(lambda i: hits.append([h.passage_id
                                          for h in retriever.rank(texts[i], languages[i], vectors[i], 10)]))
    hits = hits[-len(texts):]
    memory = {"rss_peak_mb": _rss("VmHWM"), "rss_private_mb": _rss("RssAnon"), "rss_file_mb": _rss("RssFile")}
    # (read before the bare libraries run: bm25s maps the BM25 files a second time, which would count twice)
    bare_faiss = latency(lambda i: store.passage_index.search(vectors[i][None, :], depth))
    import bm25s

    from qa.text import lexical_tokens
    model = bm25s.BM25.load(str(store.pin.path / LEXICAL), mmap=True, show_progress=False)  # the same files
    bare_bm25 = latency(lambda i: model.get_scores([t for t in dict.fromkeys(lexical_tokens(texts[i]))
                                                    if t in model.vocab_dict]))
    report = {"load_s": load_s, "rss_open_mb": rss_open, **memory,
              "rss_peak_with_bare_mb": _rss("VmHWM"), "index_type": type(store.passage_index).__name__,
              "query_ms": ours, "bare_faiss_ms": bare_faiss, "bare_bm25s_ms": bare_bm25}
    report["ratio_to_bare"] = ratio(ours["p50"], bare_faiss["p50"] + bare_bm25["p50"], digits=None)
    if exact_hits is None:
        return {**report, "hits": hits}
    _, truth = faiss.knn(vectors, np.ascontiguousarray(store.vectors), 10, faiss.METRIC_INNER_PRODUCT)

    def recall() -> float:
        _, found = store.passage_index.search(vectors, 10)
        return float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth)]))

    report["recall_at_10"] = recall()
    chosen, sweep = store.passage_index.nprobe, []
    for share in PROBE_SHARES:  # what other settings of nprobe would give: the evidence for the default
        store.passage_index.nprobe = max(1, round(share * store.passage_index.nlist))
        sweep.append({"nprobe": store.passage_index.nprobe, "share": share, "recall_at_10": recall(),
                      "bare_faiss_ms": latency(lambda i: store.passage_index.search(vectors[i][None, :], depth))})
    store.passage_index.nprobe = chosen
    report["nprobe"], report["nlist"], report["probe_sweep"] = chosen, store.passage_index.nlist, sweep
    exact = json.loads(exact_hits.read_text(encoding="utf-8"))
    report["same_top1_as_exact"] = float(np.mean([a[:1] == b[:1] for a, b in zip(hits, exact)]))
    report["top10_overlap_with_exact"] = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(hits, exact)]))
    return report


def measure_capped(index: Path, queries: Path) -> dict:
    """In a fresh process (put in a memory cgroup by `run_capped`, page cache dropped): two passes of the
    questions through `Retriever.rank`, the first from a cold cache."""
    from qa import Embedder, Retriever

    data = np.load(queries, allow_pickle=False)
    texts, languages, vectors = list(data["questions"]), list(data["languages"]), data["vectors"]
    retriever = Retriever(IndexStore.load(index), Embedder.load(for_queries=True))
    passes = [percentiles(ms(samples_over(lambda i: retriever.rank(texts[i], languages[i], vectors[i], 10),
                                          len(texts)))) for _ in range(2)]
    return {"cold_pass_ms": passes[0], "warm_pass_ms": passes[1], "rss_peak_mb": _rss("VmHWM"),
            "rss_private_mb": _rss("RssAnon")}


def run_capped(index: Path, queries: Path, cap_mb: int) -> dict:
    """`measure_capped` in a memory cgroup of `cap_mb` MB, which the kernel charges with the page cache the process
    reads in too, after emptying the page cache: what answering costs on a machine with that much memory.
    Needs root and a memory controller (cgroup v1 or v2); otherwise says why it did not run."""
    v1, v2 = Path("/sys/fs/cgroup/memory"), Path("/sys/fs/cgroup")
    controllers = v2 / "cgroup.subtree_control"
    if (v1 / "memory.limit_in_bytes").exists():
        group, limit = v1 / f"hoidap-bench-{os.getpid()}", "memory.limit_in_bytes"
    elif controllers.exists() and "memory" in controllers.read_text().split():
        group, limit = v2 / f"hoidap-bench-{os.getpid()}", "memory.max"
    else:
        return {"cap_mb": cap_mb, "skipped": "no memory cgroup controller here"}
    try:
        group.mkdir()
        (group / limit).write_text(str(cap_mb * 2**20))
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("1")
    except OSError as error:
        if group.exists():
            group.rmdir()
        return {"cap_mb": cap_mb, "skipped": f"cannot set a memory limit here ({error})"}
    command = [sys.executable, __file__, "--measure-capped", str(index), "--query-file", str(queries)]
    try:
        out = subprocess.run(command, check=True, capture_output=True, text=True, timeout=1800,
                             preexec_fn=lambda: (group / "cgroup.procs").write_text(str(os.getpid())))
        return {"cap_mb": cap_mb, **json.loads(out.stdout.strip().splitlines()[-1])}
    except subprocess.TimeoutExpired:
        return {"cap_mb": cap_mb, "skipped": "did not finish in 30 min"}
    finally:
        group.rmdir()


def _rss(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_child(index: Path, queries: Path, exact_hits: Path | None) -> dict:
    command = [sys.executable, __file__, "--measure", str(index), "--query-file", str(queries)]
    if exact_hits is not None:
        command += ["--exact-hits", str(exact_hits)]
    out = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--scratch", type=Path, help="folder for the built versions (default: a temporary one)")
    parser.add_argument("--memory-cap", type=int, default=3072,
                        help="MB: the largest approximate index is also asked under this memory limit (0: not)")
    parser.add_argument("--measure-capped", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--query-file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--exact-hits", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.query_file, args.exact_hits)))
        return
    if args.measure_capped:
        print(json.dumps(measure_capped(args.measure_capped, args.query_file)))
        return
    scratch = Path(args.scratch or tempfile.mkdtemp(prefix="bench-scale-"))
    scratch.mkdir(parents=True, exist_ok=True)
    OUT.mkdir(parents=True, exist_ok=True)
    try:
        pool = sentence_pool(scratch, args.queries)
        queries = scratch / "queries.npz"
        np.savez(queries, questions=np.array(pool["questions"]), languages=np.array(pool["question_languages"]),
                 vectors=pool["question_vectors"])
        rows = []
        for n in args.sizes:
            (documents, passages, passage_vectors, sentence_vectors), seconds = timed(
                lambda: synthesise(pool, n, scratch))
            print(f"{n}: synthesised in {seconds:.0f} s", flush=True)
            exact_root, approximate_root = scratch / f"{n}-exact", scratch / f"{n}-approximate"
            build_s = build(exact_root, documents, passages, passage_vectors, sentence_vectors)
            ivf_s = derive_approximate(exact_root, approximate_root, passage_vectors)
            del documents, passages, sentence_vectors
            (scratch / f"{n}-sentences.npy").unlink()
            print(f"{n}: built in {build_s:.0f} s (+ IVF {ivf_s:.0f} s)", flush=True)
            exact = run_child(exact_root, queries, None)
            hits = scratch / f"{n}-hits.json"
            hits.write_text(json.dumps(exact.pop("hits")), encoding="utf-8")
            approximate = run_child(approximate_root, queries, hits)
            approximate.pop("hits", None)
            if args.memory_cap and n == max(args.sizes):
                approximate["capped"] = run_capped(approximate_root, queries, args.memory_cap)
            disk = sum(p.stat().st_size for p in versions.version_path(
                exact_root, versions.current_version(exact_root)).rglob("*") if p.is_file())
            rows.append({"passages": n, "sentences": int(sentence_vectors_count(exact_root)),
                         "build_s": build_s, "ivf_build_s": ivf_s, "disk_mb": disk / 2**20,
                         "exact": exact, "approximate": approximate})
            print(json.dumps(rows[-1]), flush=True)
            shutil.rmtree(exact_root)
            shutil.rmtree(approximate_root)
            write_report(OUT, rows)
        scale_report.write_scale_report(rows, OUT)
    finally:
        if args.scratch is None:
            shutil.rmtree(scratch, ignore_errors=True)


def sentence_vectors_count(root: Path) -> int:
    return Manifest.read(root).counts["sentences"]


if __name__ == "__main__":
    main()
