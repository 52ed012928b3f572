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

The functions are shared by tests/test_load.py (a small run) and tests/test_fuzz.py (the answer checks).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
QA_COMMAND = Path(sys.executable).parent / "qa"  # the venv's `qa`, the one `make` installs


@dataclass(frozen=True)
class Question:
    """A question about the seed, with what a right answer must hold (any one of `expect`); `expect` is empty
    for a question the document does not answer, whose answer is then only checked for valid citations."""

    text: str
    language: str
    expect: tuple[str, ...] = ()


# Written from reading seeds/000_ae2b548a11784ba7.txt; each expectation is a fact stated there.
QUESTIONS: tuple[Question, ...] = (
    Question("Aliev được bầu làm Tổng thống Azerbaijan vào năm nào?", "vi", ("1993",)),
    Question("Trong hai chiến dịch mùa đông, quân Azerbaijan mất bao nhiêu binh lính?", "vi", ("5000",)),
    Question("Lãnh đạo các bên gặp nhau ở thành phố nào để ký hiệp định ngưng bắn?", "vi", ("Moscow",)),
    Question("Chính quyền Armenia động viên đàn ông dưới bao nhiêu tuổi?", "vi", ("45",)),
    Question("Tháng 10, Azerbaijan gia nhập tổ chức nào?", "vi", ("SNG", "Cộng đồng các quốc gia độc lập")),
    Question("Người Armenia kiểm soát bao nhiêu phần trăm lãnh thổ Azerbaijan?", "vi", ("9%",)),
    Question("Giáo sư người Nga nào đồng tình với nhận định về tinh thần của lính Azeri?", "vi", ("Mirsky",)),
    Question("Quân Azeri chiếm được đèo nào trong cuộc tiến công vào quận Khelbajar?", "vi", ("Omar",)),
    Question("Where did the leaders of Armenia, Azerbaijan and Russia meet on 15 May to sign the ceasefire?", "en",
             ("Moscow",)),
    Question("How many soldiers did Azerbaijan lose in the two winter campaigns?", "en", ("5000",)),
    Question("What railway junction did Azerbaijan and Afghan mujahideen recapture in Fizuli district?", "en",
             ("Horadiz",)),
    Question("How old were the youngest recruits that Azerbaijan sent into the attacks?", "en", ("16",)),
    Question("In what year did Andrei Sakharov die?", "en", ("1989",)),
    Question("Thủ đô của nước Úc là thành phố nào?", "vi"),
    Question("What is the boiling point of water on Mount Everest?", "en"),
)


# ------------------------------------------------------------------------------------ checks of answer objects

_BRACKETED = re.compile(r"\[[^\[\]]*\]")


def _core(text: str) -> str:
    """`text` without white space and bracketed groups: what a passage's cleaned text (reference markers such
    as [15] dropped, white space folded) has in common with its source span, to the character."""
    while (shorter := _BRACKETED.sub("", text)) != text:
        text = shorter
    return "".join(text.split())


def hit_problems(hits: Sequence[Mapping[str, Any]], texts: Mapping[str, str]) -> list[str]:
    """Why hits (as `qa search --json` prints them) are not ranked passages of the documents `texts` (name →
    text as read); empty when they are."""
    problems = []
    ranks = [hit.get("rank") for hit in hits]
    if ranks != list(range(1, len(hits) + 1)):
        problems.append(f"ranks are {ranks}, not 1..{len(hits)}")
    scores = [hit.get("score") for hit in hits]
    if not all(isinstance(s, (int, float)) and math.isfinite(s) for s in scores):
        problems.append(f"scores are not finite numbers: {scores}")
    elif any(a < b for a, b in zip(scores, scores[1:])):
        problems.append(f"scores are not in descending order: {scores}")
    for hit in hits:
        citation = hit.get("citation") or {}
        text = texts.get(citation.get("document"))
        start, end = citation.get("start"), citation.get("end")
        if text is None:
            problems.append(f"hit {hit.get('passage_id')} cites an unknown document {citation.get('document')!r}")
        elif not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text)):
            problems.append(f"hit {hit.get('passage_id')} spans {start}:{end}, outside its {len(text)}-char document")
        else:
            source = text[start:end]
            if source != source.strip():
                problems.append(f"hit {hit.get('passage_id')} span {start}:{end} is not trimmed")
            if not hit.get("text") or _core(hit["text"]) != _core(source):
                problems.append(f"hit {hit.get('passage_id')} text is not the text at {start}:{end}")
    return problems


def answer_problems(answer: Mapping[str, Any], texts: Mapping[str, str]) -> list[str]:
    """Why an answer object (as `qa ask --json` and /ask return it) is not a well-formed, exactly cited answer
    from the documents `texts`; empty when it is. Says nothing about whether it is the right answer."""
    problems = hit_problems(answer.get("hits", []), texts)
    if not isinstance(answer.get("answer"), str) or not answer["answer"].strip():
        problems.append("the answer text is empty")
    confidence = answer.get("confidence")
    if not isinstance(confidence, (int, float)) or not 0 <= confidence <= 1:
        problems.append(f"confidence {confidence!r} is not in 0..1")
    citations = answer.get("citations", [])
    if answer.get("answered") and not citations:
        problems.append("answered without a citation")
    if [c.get("marker") for c in citations] != list(range(1, len(citations) + 1)):
        problems.append(f"citation markers are {[c.get('marker') for c in citations]}")
    spans = {hit["passage_id"]: hit["citation"] for hit in answer.get("hits", []) if "citation" in hit}
    for citation in citations:
        text = texts.get(citation.get("document"))
        start, end = citation.get("start"), citation.get("end")
        if text is None:
            problems.append(f"citation [{citation.get('marker')}] names an unknown document")
        elif not citation.get("quote") or text[start:end] != citation["quote"]:
            problems.append(f"citation [{citation.get('marker')}] quote is not document_text[{start}:{end}]")
        if answer.get("answered") and f"[{citation.get('marker')}]" not in answer.get("answer", ""):
            problems.append(f"citation [{citation.get('marker')}] is not marked in the answer")
        passage = spans.get(citation.get("passage_id"))
        if passage and passage["document"] == citation.get("document") and \
                not passage["start"] <= start < end <= passage["end"]:
            problems.append(f"citation [{citation.get('marker')}] {start}:{end} lies outside its passage")
    return problems


def expectation_problems(question: Question, answer: Mapping[str, Any]) -> list[str]:
    """Why `answer` is not the right answer to `question`: an in-document question must be answered, with
    citations, and hold one of its expected strings in the answer, a quote or a cited passage."""
    if not question.expect:
        return []
    if not answer.get("answered") or not answer.get("citations"):
        return [f"not answered: {answer.get('answer')!r}"]
    cited = {c["passage_id"] for c in answer["citations"]}
    where = [answer["answer"], *(c["quote"] for c in answer["citations"]),
             *(h["text"] for h in answer.get("hits", []) if h["passage_id"] in cited)]
    if not any(expected in text for expected in question.expect for text in where):
        return [f"none of {question.expect} in the answer or its citations: {answer['answer']!r}"]
    return []


def same_answer(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """The same answer text and citations (scores may differ in the last digits between runs)."""
    return a.get("answer") == b.get("answer") and a.get("citations") == b.get("citations")


# ------------------------------------------------------------------------------------------------- the server

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ensure_index(seeds: Path, index: Path) -> None:
    """Build the index with `qa index` unless `qa status` says it is up to date (as `make chat` does)."""
    status = subprocess.run([str(QA_COMMAND), "status", "--seeds", str(seeds), "--index", str(index)],
                            capture_output=True, text=True)
    if status.returncode != 0:
        print(f"index: {status.stdout.strip() or status.stderr.strip()}; running qa index", flush=True)
        subprocess.run([str(QA_COMMAND), "index", "--seeds", str(seeds), "--index", str(index)], check=True)


@contextmanager
def chat_server(index: Path, seeds: Path, log_path: Path, port: int = 0, timeout: float = 180.0,
                extra_args: Sequence[str] = ()) -> Iterator[str]:
    """`qa chat` on 127.0.0.1:`port` (a free one when 0) as a subprocess; yields its URL once it serves the page,
    and always stops it (its own process group, so nothing it started is left behind)."""
    import httpx

    port = port or free_port()
    url = f"http://127.0.0.1:{port}/"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [str(QA_COMMAND), "chat", "--index", str(index), "--seeds", str(seeds), "--host", "127.0.0.1",
             "--port", str(port), "--feedback", str(log_path.with_name("feedback.jsonl")), *extra_args],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            deadline = time.monotonic() + timeout
            while True:
                if server.poll() is not None:
                    raise RuntimeError(f"qa chat exited with code {server.returncode}; see {log_path}:\n"
                                       + log_path.read_text("utf-8", "replace")[-2000:])
                try:
                    if httpx.get(url + "gradio_api/info", timeout=5).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"qa chat did not serve {url} within {timeout:.0f} s; see {log_path}")
                time.sleep(0.5)
            yield url
        finally:
            stop(server)


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to the process's group, SIGKILL if it is still there after 15 s."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)
    except ProcessLookupError:
        pass


# ------------------------------------------------------------------------------------------------ the asking

@dataclass
class Ask:
    """One timed call: who asked what, how long it took, and what came back (or the error)."""

    user: int
    question: Question
    k: int
    seconds: float = 0.0
    answer: dict[str, Any] | None = None
    error: str | None = None
    problems: list[str] = field(default_factory=list)


def plan(users: int, per_user: int, questions: Sequence[Question] = QUESTIONS) -> list[list[Question]]:
    """Each user's questions: consecutive users start at different questions so all of them are in flight."""
    return [[questions[(user * per_user + j) % len(questions)] for j in range(per_user)] for user in range(users)]


def run_users(url: str, schedule: Sequence[Sequence[Question]], k: int = 5,
              stop_event: threading.Event | None = None) -> tuple[list[Ask], float]:
    """Every user (a thread with its own gradio_client) asks its questions on /ask in turn; all users start
    together once their clients are connected. Returns the asks and the wall time from that start."""
    from gradio_client import Client

    stop_event = stop_event or threading.Event()
    ready = threading.Barrier(len(schedule) + 1)

    def user(number: int, questions: Sequence[Question]) -> list[Ask]:
        client, failure = None, None
        try:
            client = Client(url, verbose=False)
        except Exception as error:  # noqa: BLE001 — a user who cannot connect fails each of its asks
            failure = f"connecting: {type(error).__name__}: {error}"
        ready.wait()
        if client is None:
            return [Ask(number, question, k, error=failure) for question in questions]
        asks = []
        for question in questions:
            if stop_event.is_set():
                break
            ask = Ask(number, question, k)
            started = time.perf_counter()
            try:
                ask.answer = client.predict(question.text, k, api_name="/ask")
            except Exception as error:  # noqa: BLE001 — every failure is counted and reported, not raised
                ask.error = f"{type(error).__name__}: {error}"
            ask.seconds = time.perf_counter() - started
            asks.append(ask)
        return asks

    pool = ThreadPoolExecutor(max_workers=len(schedule), thread_name_prefix="user")
    try:
        futures = [pool.submit(user, number, questions) for number, questions in enumerate(schedule)]
        ready.wait(timeout=300)
        started = time.perf_counter()
        asks = [ask for future in futures for ask in future.result()]
        return asks, time.perf_counter() - started
    finally:
        stop_event.set()
        pool.shutdown(wait=False, cancel_futures=True)


def warm_up(url: str) -> None:
    """One untimed ask: the chat loads its model on the first question, which no user should be timed for."""
    from gradio_client import Client

    Client(url, verbose=False).predict(QUESTIONS[0].text, 1, api_name="/ask")


def run_library(ask: Callable[[str, int], dict[str, Any]], questions: Sequence[Question],
                k: int = 5) -> tuple[list[Ask], float]:
    """The same questions answered in-process, one after the other, after one warm-up ask."""
    ask(questions[0].text, k)
    asks = []
    started = time.perf_counter()
    for question in questions:
        record = Ask(-1, question, k)
        began = time.perf_counter()
        record.answer = ask(question.text, k)
        record.seconds = time.perf_counter() - began
        asks.append(record)
    return asks, time.perf_counter() - started


def check(asks: Sequence[Ask], texts: Mapping[str, str],
          reference: Mapping[str, Mapping[str, Any]] | None = None) -> None:
    """Fill in each ask's problems: an error, a malformed or inexact citation, a wrong answer, or (given the
    library's answers by question) an answer that differs from the library's."""
    for ask in asks:
        if ask.error is not None:
            ask.problems = [ask.error]
            continue
        ask.problems = answer_problems(ask.answer, texts) + expectation_problems(ask.question, ask.answer)
        expected = (reference or {}).get(ask.question.text)
        if expected is not None and not same_answer(ask.answer, expected):
            ask.problems.append(f"differs from the library's answer {expected.get('answer')!r}: "
                                f"{ask.answer.get('answer')!r}")


# ------------------------------------------------------------------------------------------------- reporting

def latency(asks: Sequence[Ask], wall_seconds: float) -> dict[str, float]:
    """Asks, asks/s over the wall time, and p50/p95/max/mean latency in milliseconds."""
    seconds = sorted(ask.seconds for ask in asks)
    if not seconds:
        return {"asks": 0}
    p95 = statistics.quantiles(seconds, n=100, method="inclusive")[94] if len(seconds) > 1 else seconds[0]
    return {"asks": len(seconds), "wall_seconds": round(wall_seconds, 3),
            "asks_per_second": round(len(seconds) / wall_seconds, 2) if wall_seconds else 0.0,
            "p50_ms": round(statistics.median(seconds) * 1000, 1), "p95_ms": round(p95 * 1000, 1),
            "max_ms": round(seconds[-1] * 1000, 1), "mean_ms": round(statistics.fmean(seconds) * 1000, 1)}


def failures(asks: Sequence[Ask]) -> list[dict[str, Any]]:
    return [{"user": a.user, "question": a.question.text, "problems": a.problems} for a in asks if a.problems]


def print_row(label: str, figures: Mapping[str, float]) -> None:
    print(f"{label:<28} {figures['asks']:>5} asks  {figures['asks_per_second']:>7.2f} asks/s  "
          f"p50 {figures['p50_ms']:>8.1f} ms  p95 {figures['p95_ms']:>8.1f} ms  max {figures['max_ms']:>8.1f} ms",
          flush=True)


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
    ratio = loaded_row["p50_ms"] / library_row["p50_ms"]
    overhead = single_row["p50_ms"] / library_row["p50_ms"]
    throughput = loaded_row["asks_per_second"] / library_row["asks_per_second"]
    bad = failures(single) + failures(loaded) + failures(library)
    errors = sum(1 for ask in (*single, *loaded) if ask.error is not None)
    abstained = sum(1 for ask in loaded if ask.answer and not ask.answer.get("answered"))
    print(f"p50 per ask: {ratio:.1f}× the library's under load, {overhead:.2f}× with one user; "
          f"asks/s under load: {throughput:.2f}× the library's sequential rate", flush=True)
    print(f"{errors} errors, {len(bad)} asks failed a check, {abstained} abstained "
          f"({sum(1 for a in loaded if not a.question.expect)} asks were out of the document)", flush=True)

    report = {
        "users": args.users, "questions_per_user": args.questions, "k": args.k, "cpus": os.cpu_count(),
        "server_start_seconds": round(server_start, 2), "errors": errors, "failed_checks": len(bad),
        "latency": figures, "p50_ratio_loaded_to_library": round(ratio, 2),
        "p50_ratio_single_user_to_library": round(overhead, 2),
        "throughput_ratio_loaded_to_library": round(throughput, 2),
        "questions": [asdict(q) for q in QUESTIONS], "failures": bad[:50],
    }
    (args.out / "report.json").write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", "utf-8")
    print(f"wrote {args.out / 'report.json'}", flush=True)
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
