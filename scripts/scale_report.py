"""The scale benchmark's table (report.md) and its log-log plot of cost against size (scale.png)."""

from __future__ import annotations

from pathlib import Path

from benchkit.timing import markdown_table  # scripts/benchkit, beside this file

COLUMNS = ("passages", "index", "build s", "load s", "RSS open MB", "RSS peak MB",
           "of which file pages MB", "private MB", "query p50 ms", "query p95 ms",
           "bare FAISS p50 ms", "bare bm25s p50 ms", "ratio to bare", "recall@10", "same top-1")


def table(rows: list[dict]) -> str:
    body: list[list[str]] = []
    for row in rows:
        for kind in ("exact", "approximate"):
            m = row[kind]
            build = row["build_s"] if kind == "exact" else row["build_s"] + row["ivf_build_s"]
            cells = [f"{row['passages']:,}", m["index_type"], f"{build:.0f}", f"{m['load_s']:.3f}",
                     f"{m['rss_open_mb']:.0f}", f"{m['rss_peak_mb']:.0f}", f"{m['rss_file_mb']:.0f}",
                     f"{m['rss_private_mb']:.0f}", f"{m['query_ms']['p50']:.1f}",
                     f"{m['query_ms']['p95']:.1f}", f"{m['bare_faiss_ms']['p50']:.1f}",
                     f"{m['bare_bm25s_ms']['p50']:.1f}", f"{m['ratio_to_bare']:.2f}",
                     f"{m['recall_at_10']:.3f}" if "recall_at_10" in m else "1 (exact)",
                     f"{m['same_top1_as_exact']:.3f}" if "same_top1_as_exact" in m else "–"]
            body.append(cells)
    return "\n".join(markdown_table(COLUMNS, body, align="l" * len(COLUMNS)))


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [row["passages"] for row in rows]
    panels = (("build s", lambda r, k: r["build_s"] + (r["ivf_build_s"] if k == "approximate" else 0)),
              ("load s", lambda r, k: r[k]["load_s"]),
              ("peak RSS MB (mapped file pages included)", lambda r, k: r[k]["rss_peak_mb"]),
              ("private memory MB (anonymous RSS)", lambda r, k: r[k]["rss_private_mb"]),
              ("query p50 ms (dense + BM25 + fusion)", lambda r, k: r[k]["query_ms"]["p50"]))
    figure, axes = plt.subplots(1, len(panels), figsize=(3.8 * len(panels), 3.8))
    for axis, (title, value) in zip(axes, panels):
        for kind, marker in (("exact", "o-"), ("approximate", "s--")):
            axis.plot(sizes, [value(r, kind) for r in rows], marker, label=kind)
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_title(title, fontsize=10)
        axis.set_xlabel("passages")
        axis.grid(True, which="both", alpha=0.3)
    axes[0].legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def capped(rows: list[dict]) -> str:
    """The memory-capped runs (`bench_scale.run_capped`), one line each."""
    lines = []
    for row in rows:
        run = row["approximate"].get("capped")
        if run is None:
            continue
        head = f"- {row['passages']:,} passages, approximate index, under a {run['cap_mb']:,} MB memory cap, cold cache: "
        if "skipped" in run:
            lines.append(head + "not run (" + run["skipped"] + ")")
        else:
            lines.append(head + f"first pass p50 {run['cold_pass_ms']['p50']:.1f} ms / p95 {run['cold_pass_ms']['p95']:.1f}, "
                         f"second pass p50 {run['warm_pass_ms']['p50']:.1f} ms / p95 {run['warm_pass_ms']['p95']:.1f}, "
                         f"RSS peak {run['rss_peak_mb']:.0f} MB")
    return "\n".join(lines)


def write_scale_report(rows: list[dict], out: Path) -> None:
    rows = sorted(rows, key=lambda row: row["passages"])
    (out / "report.md").write_text(table(rows) + "\n\n" + capped(rows) + "\n", encoding="utf-8")
    plot(rows, out / "scale.png")
