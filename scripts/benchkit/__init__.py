"""What the benchmarks (scripts/bench_*.py) and the tests share, so that each benchmark is only what it measures
and no test imports a benchmark script:

    chat     a real `qa chat` as a subprocess: started on a free port, waited for, always stopped
    checks   checks of answer and hit objects (exact citations, expected answers), the seed's questions
    load     many users asking through the HTTP API at once, and the same asks through the library
    timing   timings and their medians, ratios, and the Markdown table and JSON report a benchmark writes
"""
