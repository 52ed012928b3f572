"""Fit the reading answerer's calibration (`qa.answer.reading.ReaderCalibration`) on the dev benchmark, and report
what it does on articles it was not fitted on (cross-validation by article).

    .venv/bin/python scripts/calibrate_reader.py [--weights W] [--texts vi en] [--folds 6] [--passages 4] [--write]
    make calibrate-reader

The benchmark's articles are indexed once in each of its texts (Vietnamese, English), and every dev question is
asked over each, in both languages, three times: against the whole index (in the documents); with its own
article's passages removed from what retrieval returns (out of the documents: as if the article were not indexed);
and with only the passages that hold its answer removed ("near": on topic, not answering; measured as "on-topic
unanswerable abstained", not fitted on). The reader reads each question's top passages once; each read passage is
a row (its signals, and whether its span holds a gold answer). A logistic model over the rows gives P(span
answers); the answer is the most probable passage. Thresholds, each the lowest that abstains on ≥ --abstain of its
case's out-of-document questions: one for passages in the question's language (the higher of the two languages'),
one for English questions over Vietnamese text and one for Vietnamese questions over English text, folded into the
"cross" and "cross_vi" weights so that one threshold decides every case.

Two calibrations can be fitted: the default embedding model's (`--models`' default), with its retrieval scores,
and `*` (any other `--model`), with only the reader's and the ranking's signals. Other models have no query
adapter, so `*` is fitted on rows read without it, `QA_QUERY_ADAPTER=0 ... --models '*' --texts vi --write`
(refused otherwise; those rows are cached apart).
--write replaces the fitted entries in qa/reader/weights/calibration.json and keeps the others; the table printed
is from the held-out folds only.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.answer.reading import (ANY_MODEL, CALIBRATION_FILE, DIRECTION_FEATURES, RANK_FEATURES,  # noqa: E402
                               READER_FEATURES, RETRIEVAL_FEATURES, candidate_features, reading_source)
from qa.embedding.adapter import adapter_enabled, load_query_adapter  # noqa: E402
from qa.embedding.default_model import DEFAULT_MODEL  # noqa: E402
from qa.embedding.embeddings import Embedder, query_encoder  # noqa: E402
from qa.evaluation import load_dataset, with_questions_of  # noqa: E402
from qa.evaluation.datasets import GoldQuestion, write_documents  # noqa: E402
from qa.evaluation.metrics import contains_any  # noqa: E402
from qa.indexing.index import build_index  # noqa: E402
from qa.reader import DEFAULT_PRECISION, PRECISIONS  # noqa: E402
from qa.reader.export import prepare_reader  # noqa: E402
from qa.reader.model import Reader  # noqa: E402
from qa.records import Hit  # noqa: E402
from qa.trained import TRAINED_WEIGHTS, replace_file  # noqa: E402
from qa.retrieval.retriever import Retriever  # noqa: E402

DEV = ROOT.parent / "shared" / "benchmarks" / "xquad-dev"
# The calibrations, by embedding model: the default one's uses its retrieval scores and a threshold per direction
# across languages (its query adapter maps each question language its own way); the one any other model gets uses
# only the ranking (another model's scores are on another scale).
CALIBRATIONS = {DEFAULT_MODEL: READER_FEATURES + RETRIEVAL_FEATURES + DIRECTION_FEATURES,
                ANY_MODEL: READER_FEATURES + RANK_FEATURES}


# How each question is asked: against the whole index; with its own article's passages removed (out of the
# documents); and with only the passages that hold its answer removed ("near": the rest of its article stays, on
# topic but not answering, as a user's documents often are).
SCOPES = ("in", "out", "near")


def in_scope(scope: str, hit: Hit, question: GoldQuestion) -> bool:
    if scope == "out":
        return hit.citation.document != question.document
    if scope == "near":
        return hit.citation.document != question.document or not contains_any(hit.text, question.answers)
    return True


def collect(args: argparse.Namespace, text: str) -> list[dict]:
    """One row per read passage of the index of `text` (vi or en): question id, language, article, scope
    (in/out/near), features, label, span and sentence."""
    other = "en" if text == "vi" else "vi"
    dataset = with_questions_of(load_dataset(DEV / f"xquad-dev.{text}.json"),
                                load_dataset(DEV / f"xquad-dev.{other}.json"))
    embedder = Embedder.load()
    reader = Reader(prepare_reader(args.weights), precision=args.precision)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="calibrate-reader-") as scratch:
        seeds, index = Path(scratch) / "seeds", Path(scratch) / "index"
        write_documents(dataset, seeds)
        build_index(seeds, index, embedder=embedder, log=lambda m: None)
        # the adapter of the weights being calibrated (an Embedder's own comes from the shipped file)
        questions = dataclasses.replace(query_encoder(embedder),
                                        query_adapter=load_query_adapter(embedder.name, args.weights))
        retriever = Retriever.load(index, embedder=questions)
        store = retriever.store
        started = time.perf_counter()
        for n, question in enumerate(dataset.questions[::args.every], start=1):
            result = retriever.retrieve(question.question, k=args.passages + 12)
            spans: dict[str, object] = {}
            for scope in SCOPES:
                hits = [h for h in result.hits if in_scope(scope, h, question)]
                hits = [dataclasses.replace(h, rank=r) for r, h in enumerate(hits[:args.passages], start=1)]
                todo = [h for h in hits if h.passage_id not in spans]
                sources = [reading_source(store.document_text(h.passage.document), h) for h in todo]
                for hit, (offset, _), span in zip(todo, sources, reader.read(question.question,
                                                                             [src for _, src in sources])):
                    spans[hit.passage_id] = (span, store.document_text(hit.passage.document), hit.passage, offset)
                read = [spans[h.passage_id][0] for h in hits]
                scoped = dataclasses.replace(result, hits=hits)
                for hit, span, features in zip(hits, read, candidate_features(scoped, hits, read)):
                    _, document, passage, offset = spans[hit.passage_id]
                    short = "" if span is None else document[offset + span.start:offset + span.end]
                    at = None if span is None else offset + span.start
                    sentence = next((document[s.start:s.end] for s in passage.sentences if at is not None
                                     and s.start <= at < s.end), short)
                    gold = scope == "in" and bool(short) and contains_any(short, question.answers)
                    rows.append({"id": question.id, "text": text, "language": question.language,
                                 "article": question.document,
                                 "scope": scope, "rank": hit.rank, "features": features, "label": gold, "short": short,
                                 "sentence_holds": scope == "in" and contains_any(sentence, question.answers),
                                 "words": len(short.split()) + len(sentence.split())})
            if n % 100 == 0:
                print(f"{n}/{len(dataset.questions)} questions read, {time.perf_counter() - started:.0f} s",
                      file=sys.stderr, flush=True)
    return rows


def question_key(row: dict) -> tuple:
    """One asking of one question: which text it was asked over, in which language, in which scope."""
    return row["id"], row.get("text", "vi"), row["language"], row["scope"]


def case(row: dict) -> str:
    """The table a row is reported in: its question's language, and the text's where that is not Vietnamese."""
    text = row.get("text", "vi")
    return row["language"] if text == "vi" else f"{row['language']} over {text} text"


def restrict(rows: list[dict], passages: int) -> list[dict]:
    """The rows as if only the top `passages` had been read: lead_gap is relative to the best of those."""
    kept = [r for r in rows if r["rank"] <= passages]
    best: dict[tuple, float] = defaultdict(lambda: -np.inf)
    for r in kept:
        best[question_key(r)] = max(best[question_key(r)], r["features"]["lead"])
    return [{**r, "features": {**r["features"], "lead_gap": r["features"]["lead"] - best[question_key(r)]}}
            for r in kept]


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0, steps: int = 50) -> tuple[float, np.ndarray]:
    """Newton's method on standardised features with an L2 penalty; (bias, weights) on the raw scale."""
    mean, std = x.mean(0), x.std(0) + 1e-9
    z = np.hstack([np.ones((len(x), 1)), (x - mean) / std])
    w = np.zeros(z.shape[1])
    penalty = np.eye(z.shape[1]) * l2
    penalty[0, 0] = 0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-np.clip(z @ w, -50, 50)))
        gradient = z.T @ (p - y) + penalty @ w
        hessian = (z * (p * (1 - p))[:, None]).T @ z + penalty
        w -= np.linalg.solve(hessian, gradient)
    weights = w[1:] / std
    return float(w[0] - (weights * mean).sum()), weights


def decide(rows: list[dict], names: tuple[str, ...], bias: float, weights: np.ndarray) -> dict:
    """Per (question, language, scope): the chosen row and its probability."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        groups[question_key(row)].append(row)
    out = {}
    for key, members in groups.items():
        x = np.array([[m["features"][n] for n in names] for m in members])
        p = 1 / (1 + np.exp(-np.clip(bias + x @ weights, -50, 50)))
        best = int(np.argmax(p))
        out[key] = (members[best], float(p[best]))
    return out


def direction(row: dict, names: tuple[str, ...]) -> str:
    """The threshold a row's question is judged by: "same" (the chosen passage is in the question's language),
    "cross_vi" (a Vietnamese question over another language, where the calibration tells that direction apart),
    else "cross"."""
    if not row["features"]["cross"]:
        return "same"
    return "cross_vi" if "cross_vi" in names and row["features"]["cross_vi"] else "cross"


def threshold_for(decisions: dict, names: tuple[str, ...], abstain: float) -> dict[str, float]:
    """Per direction present: the lowest probability threshold that abstains on ≥ `abstain` of its out-of-document
    questions; for "same", the higher of each question language's, so that both languages reach `abstain`."""
    outside: dict[tuple, list[float]] = defaultdict(list)
    for row, p in decisions.values():
        if row["scope"] == "out":
            case = direction(row, names)
            outside[(case, row["language"] if case == "same" else "")].append(p)
    thresholds: dict[str, float] = {}
    for (case, _), probabilities in sorted(outside.items()):
        thresholds[case] = max(thresholds.get(case, 0.0), float(np.quantile(probabilities, abstain)))
    thresholds.setdefault("same", 0.5)
    return thresholds


def metrics(decisions: dict, threshold: float) -> dict[str, dict[str, float]]:
    table: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row, p in decisions.values():
        answered, scope = p >= threshold, row["scope"]
        m = table[case(row)]
        if scope == "out":
            m["out-of-document abstained"].append(not answered)
            continue
        if scope == "near":
            m["on-topic unanswerable abstained"].append(not answered)
            continue
        holds = row["sentence_holds"] or row["label"]
        m["short answer holds gold"].append(answered and row["label"])
        m["best span holds gold, answered or not"].append(row["label"])
        m["answer holds gold"].append(answered and holds)
        m["in-document answered wrongly"].append(answered and not holds)
        m["in-document answered"].append(answered)
        m["holds gold, had it answered"].append(holds)
        m["words (span + sentence)"].append(row["words"])
    return {lang: {k: float(np.mean(v)) for k, v in m.items()} for lang, m in table.items()}


def cross_validate(rows: list[dict], names: tuple[str, ...], folds: int, abstain: float, seed: int) -> dict:
    articles = sorted({r["article"] for r in rows})
    random.Random(seed).shuffle(articles)
    fold_of = {a: i % folds for i, a in enumerate(articles)}
    decisions, per_fold = {}, []
    for fold in range(folds):
        train = [r for r in rows if fold_of[r["article"]] != fold]
        test = [r for r in rows if fold_of[r["article"]] == fold]
        bias, weights, threshold = calibrate(train, names, abstain)
        per_fold.append(threshold)
        for key, (row, p) in decide(test, names, bias, weights).items():
            decisions[key] = (row, p - threshold + 0.5)  # each fold's own threshold, moved to 0.5
    return {"metrics": metrics(decisions, 0.5), "thresholds": per_fold}


def fit(rows: list[dict], names: tuple[str, ...]) -> tuple[float, np.ndarray]:
    """The logistic fit on the in- and out-of-document rows. The "near" rows are measured, not fitted on: adding
    them (once or twice over) moved no cross-validated figure by more than a point (README)."""
    rows = [r for r in rows if r["scope"] != "near"]
    x = np.array([[r["features"][n] for n in names] for r in rows])
    y = np.array([float(r["label"]) for r in rows])
    return fit_logistic(x, y)


def logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return float(np.log(p / (1 - p)))


def calibrate(rows: list[dict], names: tuple[str, ...], abstain: float) -> tuple[float, np.ndarray, float]:
    """(bias, weights, threshold): the logistic fit, with each cross-language direction's own threshold folded into
    its weights ("cross", then "cross_vi" on top of it) so that one threshold (the same-language one) decides all."""
    bias, weights = fit(rows, names)
    thresholds = threshold_for(decide(rows, names, bias, weights), names, abstain)
    weights = weights.copy()
    cross = thresholds.get("cross", thresholds["same"])
    weights[names.index("cross")] -= logit(cross) - logit(thresholds["same"])
    if "cross_vi" in thresholds:
        weights[names.index("cross_vi")] -= logit(thresholds["cross_vi"]) - logit(cross)
    return bias, weights, thresholds["same"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, default=TRAINED_WEIGHTS)
    parser.add_argument("--passages", type=int, default=4, help="passages read per question (the answerer reads as many)")
    parser.add_argument("--use", type=int, nargs="*", default=None,
                        help="also report as if only the top N of them were read (N ≤ --passages)")
    parser.add_argument("--texts", choices=("vi", "en"), nargs="+", default=["vi", "en"],
                        help="which of the benchmark's texts are indexed (questions are asked in both languages)")
    parser.add_argument("--models", choices=tuple(CALIBRATIONS), nargs="+", default=[DEFAULT_MODEL],
                        help="which calibrations to fit (see above for '*')")
    parser.add_argument("--folds", type=int, default=6)
    parser.add_argument("--abstain", type=float, default=0.96, help="out-of-document share to abstain on")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rows", default=None,
                        help="cache of each text's read rows, reused when --reuse [default: "
                             "eval-out/calibrate-reader/rows-{text}.jsonl, rows-{text}-no-adapter.jsonl when "
                             "QA_QUERY_ADAPTER=0]")
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--every", type=int, default=1, help="read every n-th question only (a quick check)")
    parser.add_argument("--precision", choices=PRECISIONS, default=DEFAULT_PRECISION,
                        help="which exported graph reads")
    parser.add_argument("--write", action="store_true", help="store the calibrations fitted on all articles")
    args = parser.parse_args()
    args.rows = args.rows or ("eval-out/calibrate-reader/rows-{text}"
                              + ("" if adapter_enabled() else "-no-adapter") + ".jsonl")
    if "{text}" not in args.rows:
        parser.error("--rows must hold {text}: each text's rows are cached apart")
    if args.write and ANY_MODEL in args.models and (adapter_enabled() or set(args.texts) != {"vi"}):
        parser.error("--write for '*' (models without a query adapter) fits rows read without the adapter over the "
                     "Vietnamese text: QA_QUERY_ADAPTER=0 ... --models '*' --texts vi --write")
    if args.write and DEFAULT_MODEL in args.models and set(args.texts) != {"en", "vi"}:
        parser.error(f"--write fits {DEFAULT_MODEL}'s thresholds for both directions across languages: "
                     "it needs both texts (--texts vi en)")

    rows: list[dict] = []
    for text in dict.fromkeys(args.texts):
        cache = Path(args.rows.format(text=text))
        if args.reuse and cache.exists():
            cached = [{"text": text, **json.loads(line)} for line in cache.read_text().splitlines()]
            needed = {name for model in args.models for name in CALIBRATIONS[model]}
            missing = needed - set(cached[0]["features"] if cached else needed)
            if missing:
                parser.error(f"{cache} was read before the signals {sorted(missing)} existed: run without --reuse")
            rows += cached
            continue
        read = collect(args, text)
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in read))
        rows += read
    for n in args.use or ():
        for model in args.models:
            result = cross_validate(restrict(rows, n), CALIBRATIONS[model], args.folds, args.abstain, args.seed)
            print(f"\ntop {n} read, {model}:")
            for language, values in sorted(result["metrics"].items(), reverse=True):
                print(f"  {language}: " + ", ".join(f"{k} {v:.3f}" for k, v in values.items()))
    rows = restrict(rows, args.passages)
    table = json.loads(CALIBRATION_FILE.read_text(encoding="utf-8")) if CALIBRATION_FILE.exists() else {}
    for model in args.models:
        names = CALIBRATIONS[model]
        result = cross_validate(rows, names, args.folds, args.abstain, args.seed)
        print(f"\n{model}: cross-validated by article ({args.folds} folds), thresholds "
              + ", ".join(f"{t:.3f}" for t in result["thresholds"]))
        for language, values in sorted(result["metrics"].items(), reverse=True):
            print(f"  {language}: " + ", ".join(f"{k} {v:.3f}" for k, v in values.items()))
        bias, weights, threshold = calibrate(rows, names, args.abstain)
        table[model] = {"model": model, "bias": round(bias, 6),
                        "weights": {n: round(float(w), 6) for n, w in zip(names, weights)},
                        "threshold": round(threshold, 3),  # the trade-off tables show 3 decimals
                        "passages": args.passages,
                        "cross_validated": result["metrics"],
                        "fitted_on": f"xquad-dev's {' and '.join(sorted(set(args.texts), reverse=True))} text, "
                                     f"{sum(r['scope'] != 'near' for r in rows)} read passages, both question "
                                     f"languages, in and out of the documents; abstain {args.abstain}"}
    if args.write:
        text = json.dumps(table, indent=2, ensure_ascii=False) + "\n"
        replace_file(CALIBRATION_FILE, lambda partial: partial.write_text(text, encoding="utf-8"))
        print(f"wrote {', '.join(args.models)} into {CALIBRATION_FILE}", file=sys.stderr)


if __name__ == "__main__":
    main()
