"""Load on the chat's HTTP API: many concurrent users asking cited questions, every answer checked, next to the
bare library doing the same asks in the same run.

    .venv/bin/python scripts/bench_load.py [--users 50] [--questions 4] [--seeds seeds] [--index index] [--out DIR]
    make bench-load

Steps: `qa index` when the index is missing or stale; `qa chat` on a free port as a subprocess (killed at the end,
also on Ctrl+C or an error); one user asking every question in turn (warm-up, and the latency without
contention); USERS threads, each with its own gradio_client, asking QUESTIONS questions each on /ask at once;
then the server is stopped and `qa.Assistant` answers the same asks in-process, one after the other.

Every answer must be an answer (no error), cite the documents exactly (each quote is `document_text[start:end]`),
hold the expected answer for in-document questions, and equal the library's answer to the same question (same
text, same citations): concurrency must not change what is answered. Prints users, asks, asks/s and p50/p95/max
latency, writes OUT/report.json (default eval-out/bench-load/), and exits 1 when any ask failed a check.

What it runs with lives in scripts/benchkit (chat, checks, load), shared with tests/test_load.py (a small run),
tests/test_mcp.py and tests/test_fuzz.py.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from benchkit.chat import chat_server, ensure_index  # noqa: E402
from benchkit.checks import QUESTIONS  # noqa: E402
from benchkit.load import check, failures, latency, plan, print_row, run_library, run_users, warm_up  # noqa: E402
from benchkit.timing import ratio, write_report  # noqa: E402


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50, help="concurrent users (threads)")
    parser.add_argument("--questions", type=int, default=4, help="questions each user asks in turn")
    parser.add_argument("-k", type=int, default=5, help="passages per answer")
    parser.add_argument("--seeds", type=Path, default=ROOT / "seeds")
    parser.add_argument("--index", type=Path, default=ROOT / "index")
    parser.add_argument("--port", type=int, default=0, help="port for qa chat (default: a free one)")
    parser.add_argument("--out", type=Path, default=ROOT / "eval-out" / "bench-load")
    args = parser.parse_args(argv)
    if args.users < 1 or args.questions < 1:
        parser.error("--users and --questions must be at least 1")

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # as Ctrl+C: the finally blocks stop the server

    import qa

    ensure_index(args.seeds, args.index)
    texts = {document.name: document.text for document in qa.read_documents(args.seeds)}
    schedule = plan(args.users, args.questions)
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with chat_server(args.index, args.seeds, args.out / "server.log", args.port) as url:
        server_start = time.perf_counter() - started
        print(f"qa chat serving {url} after {server_start:.1f} s; {args.users} users × {args.questions} questions",
              flush=True)
        warm_up(url)
        single, single_wall = run_users(url, [QUESTIONS], args.k)  # latency without contention
        loaded, loaded_wall = run_users(url, schedule, args.k)
    # The server is stopped first: the library then has both cores, as the server had.
    assistant = qa.Assistant(qa.Retriever.load(args.index))
    library, library_wall = run_library(lambda q, k: assistant.ask(q, k=k).to_dict(),
                                        [q for questions in schedule for q in questions], args.k)
    reference = {ask.question.text: ask.answer for ask in library}
    for asks in (single, loaded, library):
        check(asks, texts, reference)

    figures = {"single user (HTTP)": latency(single, single_wall),
               f"{args.users} users (HTTP)": latency(loaded, loaded_wall),
               "library, sequential": latency(library, library_wall)}
    for label, row in figures.items():
        print_row(label, row)
    loaded_row, library_row, single_row = figures[f"{args.users} users (HTTP)"], figures["library, sequential"], \
        figures["single user (HTTP)"]
    loaded_ratio = ratio(loaded_row["p50_ms"], library_row["p50_ms"], digits=None)
    overhead = ratio(single_row["p50_ms"], library_row["p50_ms"], digits=None)
    throughput = ratio(loaded_row["asks_per_second"], library_row["asks_per_second"], digits=None)
    bad = failures(single) + failures(loaded) + failures(library)
    errors = sum(1 for ask in (*single, *loaded) if ask.error is not None)
    abstained = sum(1 for ask in loaded if ask.answer and not ask.answer.get("answered"))
    print(f"p50 per ask: {loaded_ratio:.1f}× the library's under load, {overhead:.2f}× with one user; "
          f"asks/s under load: {throughput:.2f}× the library's sequential rate", flush=True)
    print(f"{errors} errors, {len(bad)} asks failed a check, {abstained} abstained "
          f"({sum(1 for a in loaded if not a.question.expect)} asks were out of the document)", flush=True)

    report = {
        "users": args.users, "questions_per_user": args.questions, "k": args.k, "cpus": os.cpu_count(),
        "server_start_seconds": round(server_start, 2), "errors": errors, "failed_checks": len(bad),
        "latency": figures, "p50_ratio_loaded_to_library": round(loaded_ratio, 2),
        "p50_ratio_single_user_to_library": round(overhead, 2),
        "throughput_ratio_loaded_to_library": round(throughput, 2),
        "questions": [asdict(q) for q in QUESTIONS], "failures": bad[:50],
    }
    print(f"wrote {write_report(args.out, report)}", flush=True)
    for failure in bad[:10]:
        print(f"FAILED user {failure['user']}: {failure['question']}: {'; '.join(failure['problems'])}",
              file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted; the chat server was stopped", file=sys.stderr)
        sys.exit(130)
