"""qa eval end to end with the real model: the SQuAD fixture, the cross-lingual run, the seed gold set against the
seed index, --compare, Ctrl-C, and CLI errors. The command is invoked directly (qa.cli.app registers it)."""

import json

import pytest
from click.testing import CliRunner

from qa.cli.eval import eval_command
from qa.evaluation.records import METRIC_KEYS

from conftest import GOLD, ROOT, SEEDS

pytestmark = pytest.mark.slow

FIXTURE_VI = ROOT / "tests" / "data" / "squad_fixture_vi.json"
FIXTURE_EN = ROOT / "tests" / "data" / "squad_fixture_en.json"
OUTPUTS = ("report.md", "metrics.json", "per_question.jsonl", "hit_at_k.png", "latency.png", "risk_coverage.png")


@pytest.fixture(scope="module")
def invoke(embedder):
    """Invoke `qa eval` in-process with the session's model (loading it again would cost seconds a run)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("qa.embedding.embeddings.Embedder.load", classmethod(lambda cls, model=None, **options: embedder))
        yield lambda *args: CliRunner().invoke(eval_command, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def vi_run(invoke, tmp_path_factory):
    """One run over the Vietnamese SQuAD fixture, shared by the tests that read its outputs."""
    out = tmp_path_factory.mktemp("eval") / "vi"
    return invoke(FIXTURE_VI, "--out", out, "-k", 5), out


def check_shape(metrics: dict, languages: list[str]) -> None:
    assert set(metrics) == {"dataset", "questions", "by_language", "overall", "settings", "wall_seconds",
                            "risk_coverage"}
    assert set(metrics["risk_coverage"]) == {*languages, "overall"}
    assert {"model", "k", "holdout_fraction", "retrieval", "chunking", "answer", "operating_threshold"} \
        <= set(metrics["settings"])
    threshold = metrics["settings"]["operating_threshold"]
    assert 0 < threshold < 1  # the answerer's own: the reader's calibrated one by default
    for scope in metrics["risk_coverage"].values():  # the operating point is a row of the trade-off table
        assert threshold in [p["threshold"] for p in scope["tradeoff"]]
    assert list(metrics["by_language"]) == languages
    for values in [*metrics["by_language"].values(), metrics["overall"]]:
        assert set(values) == set(METRIC_KEYS)
        for key, value in values.items():
            if key not in ("n", "answer_words") and not key.startswith("latency") and value is not None:
                assert 0.0 <= value <= 1.0, key


def test_squad_fixture_writes_every_output(vi_run):
    result, out = vi_run
    assert result.exit_code == 0, result.output
    for name in OUTPUTS:
        assert (out / name).stat().st_size > 0, name
    assert "hit@5" in result.stdout and "overall" in result.stdout  # the terminal table
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    check_shape(metrics, ["vi"])
    overall = metrics["overall"]
    assert metrics["questions"] == overall["n"] == 14
    assert overall["hit@k"] >= 0.8 and overall["mrr"] >= 0.7 and overall["ndcg@10"] >= 0.7
    assert overall["answer_correct"] >= 0.5 and overall["citation_precision"] >= 0.5
    assert overall["abstain_recall"] is not None and overall["latency_p95_ms"] >= overall["latency_p50_ms"] > 0
    rows = [json.loads(line) for line in (out / "per_question.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 14 and {r["id"] for r in rows} >= {"hl-01", "cp-x1"}
    answered = next(r for r in rows if r["answered"])
    assert answered["citations"] and {"quote", "document", "start", "end"} <= set(answered["citations"][0])
    assert {"hit@1", "hit@k", "answer_correct", "short_em", "abstained"} <= set(answered["checks"])
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "| metric | vi | overall |" in report and "## Failures" in report and "](hit_at_k.png)" in report


def test_cross_lingual_run_and_compare(invoke, vi_run, tmp_path):
    result = invoke(FIXTURE_VI, "--questions", FIXTURE_EN, "--out", tmp_path / "xl", "--json",
                      "--compare", vi_run[1] / "metrics.json")
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)  # --json: only the metrics object on stdout (the deltas go to stderr)
    assert printed == json.loads((tmp_path / "xl" / "metrics.json").read_text(encoding="utf-8"))
    assert "Change against" in result.stderr and " pp" in result.stderr  # the deltas table
    assert "Change against" in (tmp_path / "xl" / "report.md").read_text(encoding="utf-8")
    metrics = json.loads((tmp_path / "xl" / "metrics.json").read_text(encoding="utf-8"))
    check_shape(metrics, ["en"])
    assert metrics["overall"]["n"] == 14 and metrics["overall"]["hit@k"] >= 0.8
    rows = [json.loads(line) for line in (tmp_path / "xl" / "per_question.jsonl").read_text("utf-8").splitlines()]
    assert rows[0]["question"].startswith("In which province") and rows[0]["gold"] == ["Quảng Ninh"]


def test_seed_gold_set_against_the_seed_index(invoke, seed_index, tmp_path):
    # a quarter of the gold set's questions, each in both languages, in and out of the documents: test_answers asks
    # all of it in-process; this checks the command over it
    lines = [line for line in GOLD.read_text(encoding="utf-8").splitlines() if line.strip()]
    subset = [line for n, line in enumerate(lines) if n // 2 % 4 == 0]
    assert {json.loads(line)["language"] for line in subset} == {"vi", "en"}
    assert any(json.loads(line)["answer"] is None for line in subset)
    gold = tmp_path / "gold.jsonl"
    gold.write_text("\n".join(subset) + "\n", encoding="utf-8")
    result = invoke(gold, "--index", seed_index, "--seeds", SEEDS, "--out", tmp_path / "gold", "--json")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    check_shape(metrics, ["vi", "en"])
    assert metrics["questions"] == metrics["overall"]["n"] == len(subset)
    assert metrics["by_language"]["vi"]["hit@k"] >= 0.9 and metrics["by_language"]["en"]["hit@k"] >= 0.8
    assert metrics["overall"]["abstain_recall"] is not None  # the set has out-of-document questions
    for name in OUTPUTS:
        assert (tmp_path / "gold" / name).exists()


def test_holdout_run_asks_held_out_questions_as_out_of_document(invoke, tmp_path):
    out = tmp_path / "holdout"
    result = invoke(FIXTURE_VI, "--holdout", 0.5, "--holdout-seed", 1, "--out", out)
    assert result.exit_code == 0, result.output
    assert "--holdout 0.5 --holdout-seed 1" in result.stdout
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    check_shape(metrics, ["vi"])
    settings = metrics["settings"]
    assert settings["holdout_fraction"] == 0.5 and settings["holdout_seed"] == 1
    assert len(settings["held_out_documents"]) == 1
    rows = [json.loads(line) for line in (out / "per_question.jsonl").read_text(encoding="utf-8").splitlines()]
    held = [r for r in rows if not r["indexed"]]
    assert held and all(r["out_of_document"] for r in held)
    assert sum(bool(r["gold"]) for r in held) >= 5  # answerable ones keep their gold, for the record
    assert all(r["gold_document"] == settings["held_out_documents"][0] for r in held)
    assert not any(h["document"] == held[0]["gold_document"] for r in rows for h in r["hits"])  # not indexed
    overall = metrics["overall"]
    assert overall["abstain_recall"] >= 0.5 and overall["hit@1"] >= 0.8
    assert overall["answered_rate"] == pytest.approx(overall["answer_correct"] + overall["wrong_rate"], abs=1e-3)
    report = (out / "report.md").read_text(encoding="utf-8")
    threshold = settings["operating_threshold"]
    assert 0 < threshold < 1
    assert "## Confidence threshold trade-off" in report and f"| {threshold} (operating) |" in report
    assert report.count("(operating)") == len(metrics["risk_coverage"])  # one row a scope
    assert f"answers when its confidence is ≥ {threshold:g}." in report
    operating = next(p for p in metrics["risk_coverage"]["overall"]["tradeoff"] if p["threshold"] == threshold)
    assert operating["answered_in_document"] == overall["answered_rate"]
    assert operating["abstained_out_of_document"] == overall["abstain_recall"]


def test_ctrl_c_keeps_finished_rows_and_exits_130(invoke, tmp_path, monkeypatch):
    from qa.answer import Assistant

    real = Assistant.ask
    calls = []

    def interrupted_on_the_fourth(self, question, history=(), k=5):
        calls.append(question)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(self, question, history, k)

    monkeypatch.setattr(Assistant, "ask", interrupted_on_the_fourth)
    out = tmp_path / "stopped"
    result = invoke(FIXTURE_VI, "--out", out)
    assert result.exit_code == 130
    assert "Interrupted" in result.stderr
    assert len((out / "per_question.jsonl").read_text(encoding="utf-8").splitlines()) == 3
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["questions"] == 14 and metrics["overall"]["n"] == 3
    assert "Interrupted" in (out / "report.md").read_text(encoding="utf-8")


def test_cli_errors_name_the_file_and_exit_non_zero(tmp_path):
    runner = CliRunner()
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "question": "Q?", "answer": "x"}\n{"id": "b"\n', encoding="utf-8")
    result = runner.invoke(eval_command, [str(bad), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and str(bad) in result.stderr and "line 2" in result.stderr
    assert not (tmp_path / "out").exists()  # failed before running anything

    other = tmp_path / "other.json"
    other.write_text(json.dumps({"data": []}), encoding="utf-8")
    result = runner.invoke(eval_command, [str(FIXTURE_VI), "--questions", str(other)])
    assert result.exit_code == 2 and str(other) in result.stderr

    missing = tmp_path / "nothing.json"
    result = runner.invoke(eval_command, [str(missing)])
    assert result.exit_code == 2 and str(missing) in result.stderr

    result = runner.invoke(eval_command, [str(FIXTURE_VI), "--compare", str(bad)])
    assert result.exit_code == 2 and str(bad) in result.stderr

    result = runner.invoke(eval_command, [str(GOLD), "--index", str(tmp_path / "no-index")])
    assert result.exit_code == 2 and "no-index" in result.stderr

    result = runner.invoke(eval_command, [str(GOLD), "-k", "0"])
    assert result.exit_code == 2 and "k must be" in result.stderr
