"""Timing, ratios and the written report of a benchmark, in one place: every bench_*.py times with the same clock,
takes medians and ratios the same way and writes its table and JSON alike, and holds only what it measures."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")


def timed(action: Callable[[], T]) -> tuple[T, float]:
    """One call of `action`: its result and its wall seconds."""
    started = time.perf_counter()
    result = action()
    return result, time.perf_counter() - started


def samples_over(call: Callable[[int], object], count: int, warmup: int = 0) -> list[float]:
    """Seconds of each of call(0) … call(count - 1), after `warmup` untimed calls call(0), call(1), … (wrapping
    at `count`): `warmup=count` is a whole untimed pass, which pays for the page faults."""
    for i in range(warmup):
        call(i % count)
    seconds = []
    for i in range(count):
        started = time.perf_counter()
        call(i)
        seconds.append(time.perf_counter() - started)
    return seconds


def samples(action: Callable[[], object], runs: int, warmup: int = 0) -> list[float]:
    """Seconds of each of `runs` calls of `action`, after `warmup` untimed ones."""
    return samples_over(lambda _: action(), runs, warmup)


def median_seconds(action: Callable[[], object], runs: int, warmup: int = 0) -> float:
    return statistics.median(samples(action, runs, warmup))


def median_ms(action: Callable[[], object], runs: int, warmup: int = 0) -> float:
    return 1000 * median_seconds(action, runs, warmup)


def ms(seconds: Iterable[float]) -> list[float]:
    return [1000 * value for value in seconds]


def percentiles(values: Sequence[float]) -> dict[str, float]:
    """The median and the 95th percentile (numpy's linear interpolation)."""
    return {"p50": statistics.median(values), "p95": float(np.percentile(values, 95))}


def ratio(ours: float, bare: float, digits: int | None = 2) -> float:
    """ours / bare, rounded to `digits` (None: not rounded)."""
    value = ours / bare
    return value if digits is None else round(value, digits)


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]], align: str | None = None) -> list[str]:
    """The lines of a Markdown table; `align` has an "l" or "r" a column (default: the first left, the rest right)."""
    align = align or "l" + "r" * (len(header) - 1)
    if len(align) != len(header):
        raise ValueError(f"align {align!r} does not have one letter a column of {list(header)}")
    lines = ["| " + " | ".join(header) + " |", "|" + "".join("---:|" if a == "r" else "---|" for a in align)]
    return lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]


def write_report(out_dir: Path, report: Any, table: Sequence[str] | None = None, *, name: str = "report",
                 json_name: str | None = None, table_name: str | None = None) -> Path:
    """`report` as OUT_DIR/<name>.json (or `json_name`); given `table` lines, they are also written to
    OUT_DIR/<name>.md (or `table_name`) and printed. Returns the JSON file's path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / (json_name or f"{name}.json")
    path.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    if table is not None:
        text = "\n".join(table)
        (out_dir / (table_name or f"{name}.md")).write_text(text + "\n", encoding="utf-8")
        print(text)
    return path
