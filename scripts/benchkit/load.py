"""Many users asking at once through the chat's HTTP API, the same asks through the library, and the checks and
latency figures of both."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from benchkit.checks import QUESTIONS, Question, answer_problems, expectation_problems, same_answer
from benchkit.timing import timed



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
        record.answer, record.seconds = timed(lambda: ask(question.text, k))
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
