"""--holdout: which articles leave the index (seeded, content-blind, fraction honoured), what their questions
become, and the errors, in the API and on the command line (the errors come before any model is loaded)."""

import json

import pytest
from click.testing import CliRunner

from qa.evaluation import HoldoutError, hold_out, load_dataset, with_questions_of
from qa.cli.eval import default_out_dir, eval_command

from conftest import GOLD


def squad_file(path, articles: int, word: str = "Sông", language: str = "vi") -> str:
    """`articles` one-paragraph articles of two questions each; `word` changes every title and text."""
    data = {"data": [{"title": f"{word} {a}", "paragraphs": [{
        "context": f"{word} số {a} dài {a + 10} cây số và chảy qua tỉnh {word} {a}.",
        "qas": [{"id": f"a{a}-q{q}", "question": f"{word} số {a} dài bao nhiêu? ({q})", "language": language,
                 "answers": [{"text": f"{a + 10} cây số", "answer_start": 0}]} for q in range(2)]}]}
        for a in range(articles)]}
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def held_positions(dataset, held) -> list[int]:
    return [i for i, d in enumerate(dataset.documents) if d.name in held.holdout.documents]


def test_holdout_is_seeded_and_honours_the_fraction(tmp_path):
    dataset = load_dataset(squad_file(tmp_path / "ten.json", 10))
    half = hold_out(dataset, 0.5, seed=0)
    assert half.holdout.fraction == 0.5 and half.holdout.seed == 0
    assert len(half.holdout.documents) == 5 and len(half.documents) == 5
    assert hold_out(dataset, 0.5, seed=0) == half  # deterministic
    assert len({tuple(hold_out(dataset, 0.5, seed=s).holdout.documents) for s in range(6)}) > 1  # the seed matters
    assert len(hold_out(dataset, 0.25, seed=3).holdout.documents) == 3  # round(2.5) up
    assert len(hold_out(dataset, 0.01).holdout.documents) == 1  # at least one article
    assert len(hold_out(dataset, 0.9).holdout.documents) == 9


def test_holdout_choice_ignores_article_content(tmp_path):
    rivers = load_dataset(squad_file(tmp_path / "rivers.json", 8, "Sông"))
    mountains = load_dataset(squad_file(tmp_path / "mountains.json", 8, "Núi"))
    for seed in range(4):
        assert held_positions(rivers, hold_out(rivers, 0.5, seed)) == \
            held_positions(mountains, hold_out(mountains, 0.5, seed))


def test_held_out_questions_are_out_of_document_but_keep_their_gold(tmp_path):
    dataset = load_dataset(squad_file(tmp_path / "six.json", 6))
    held = hold_out(dataset, 0.5, seed=1)
    names = set(held.holdout.documents)
    assert not names & {d.name for d in held.documents}  # not indexed
    assert len(held.questions) == len(dataset.questions)  # still asked
    for before, after in zip(dataset.questions, held.questions):
        assert after.answers == before.answers and before.indexed and not before.out_of_document
        assert after.indexed == (after.document not in names) == (not after.out_of_document)


def test_holdout_applies_to_both_languages_of_a_bilingual_set(tmp_path):
    vi = load_dataset(squad_file(tmp_path / "vi.json", 4))
    both = with_questions_of(vi, load_dataset(squad_file(tmp_path / "en.json", 4, "River", "en")))
    assert len(both.questions) == 16 and {q.language for q in both.questions} == {"vi", "en"}
    held = hold_out(both, 0.5, seed=0)
    by_id: dict[str, set[bool]] = {}
    for question in held.questions:
        by_id.setdefault(question.id, set()).add(question.indexed)
    assert all(len(flags) == 1 for flags in by_id.values())  # a question and its translation share their article
    assert sum(not q.indexed for q in held.questions) == 8


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.5, 1.5, float("nan")])
def test_fraction_outside_zero_one_is_refused(tmp_path, fraction):
    dataset = load_dataset(squad_file(tmp_path / "set.json", 4))
    with pytest.raises(HoldoutError, match="between 0 and 1"):
        hold_out(dataset, fraction)


def test_holdout_that_leaves_nothing_indexed_or_a_jsonl_set_is_refused(tmp_path):
    with pytest.raises(HoldoutError, match="leaves none to index"):
        hold_out(load_dataset(squad_file(tmp_path / "one.json", 1)), 0.5)
    with pytest.raises(HoldoutError, match="leaves none to index"):
        hold_out(load_dataset(squad_file(tmp_path / "two.json", 2)), 0.8)  # round(1.6) = 2 of 2
    with pytest.raises(HoldoutError, match="SQuAD-format"):
        hold_out(load_dataset(GOLD), 0.5)


@pytest.mark.parametrize("args, message", [
    (["--holdout", "1.5"], "between 0 and 1"),
    (["--holdout", "0"], "between 0 and 1"),
    (["--holdout-seed", "3"], "needs --holdout"),
])
def test_cli_holdout_errors_exit_2_on_stderr(tmp_path, args, message):
    result = CliRunner().invoke(eval_command, [str(squad_file(tmp_path / "set.json", 4)), *args,
                                               "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and message in result.stderr and not result.stdout
    assert not (tmp_path / "out").exists()


def test_cli_holdout_refuses_jsonl_and_a_single_article(tmp_path):
    result = CliRunner().invoke(eval_command, [str(GOLD), "--holdout", "0.5"])
    assert result.exit_code == 2 and "SQuAD-format" in result.stderr and str(GOLD) in result.stderr
    single = squad_file(tmp_path / "one.json", 1)
    result = CliRunner().invoke(eval_command, [str(single), "--holdout", "0.5"])
    assert result.exit_code == 2 and "leaves none to index" in result.stderr


def test_holdout_runs_get_their_own_default_folder(tmp_path):
    plain = default_out_dir(tmp_path / "dev.vi.json", None)
    assert plain.name == "dev.vi"
    assert default_out_dir(tmp_path / "dev.vi.json", None, 0.5, 0).name == "dev.vi-holdout0.5-seed0"
    assert default_out_dir(tmp_path / "dev.vi.json", tmp_path / "dev.en.json", 0.25, 7).name == \
        "dev.vi+dev.en-holdout0.25-seed7"


def test_jsonl_history_must_be_a_list_of_questions(tmp_path):
    from qa.evaluation import DatasetError, load_dataset

    good = tmp_path / "good.jsonl"
    good.write_text('{"id": "1", "question": "Và khi nào?", "answer": "1994", "history": ["Ai ký?"]}\n',
                    encoding="utf-8")
    assert load_dataset(good).questions[0].history == ("Ai ký?",)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "1", "question": "Và khi nào?", "answer": "1994", "history": "Ai ký?"}\n',
                   encoding="utf-8")
    with pytest.raises(DatasetError, match="history"):
        load_dataset(bad)
