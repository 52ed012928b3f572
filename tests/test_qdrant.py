"""The Qdrant store, in qdrant-client's local mode (no server here): URLs, BM25 as sparse vectors, the same
candidates and hits as FAISS for the same seeds, atomic alias switches, the CLI with --store, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import SEEDS, load_gold
from qa.store.location import parse_index
from qa.errors import InvalidStoreURLError
from qa.store.qdrant.connection import DEFAULT_PORT, QdrantLocation
from qa.store.qdrant.store import token_id


def test_url_forms(tmp_path):
    server = QdrantLocation.parse("qdrant://db.example/docs")
    assert (server.host, server.port, server.https, server.collection, server.local) == \
        ("db.example", DEFAULT_PORT, False, "docs", False)
    assert QdrantLocation.parse("qdrants://10.0.0.5:7000/docs_v").port == 7000
    assert QdrantLocation.parse("qdrants://10.0.0.5:7000/docs_v").https
    local = QdrantLocation.parse(f"qdrant+path:{tmp_path}/store/docs")
    assert (local.folder, local.collection) == (tmp_path / "store", "docs")
    assert QdrantLocation.parse(f"qdrant+path://{tmp_path}/docs").folder == tmp_path
    remote, local_mode, folder = parse_index("qdrant://h/x"), parse_index("qdrant+path:f/x"), parse_index("index")
    assert (remote.cli_argument, local_mode.cli_argument) == ("--store qdrant://h/x", "--store qdrant+path:f/x")
    assert (str(remote), remote.location) == ("qdrant://h/x", "qdrant://h/x")
    assert (folder.cli_argument, folder.location) == ("--index index", Path("index"))
    assert parse_index(Path("qdrant://h/x")).location == Path("qdrant:/h/x")  # a Path is a folder, always
    assert parse_index(remote) is remote


@pytest.mark.parametrize("url", ["qdrant://host", "qdrant://host/", "qdrant://:6333/x", "qdrant://h:99999/x",
                                 "qdrant://h/bad name", "qdrant://h/x__meta", "qdrant+path:docs", "http://h/x"])
def test_bad_urls_are_typed_errors(url):
    with pytest.raises(InvalidStoreURLError, match="qdrant://HOST"):
        QdrantLocation.parse(url)


def test_cli_bad_url_and_unreachable_server():
    from qa.cli.app import main

    runner = CliRunner()
    bad = runner.invoke(main, ["search", "--store", "qdrant://h/bad name", "câu hỏi"])
    assert bad.exit_code == 2 and "collection name" in bad.output
    down = runner.invoke(main, ["status", "--store", "qdrant://127.0.0.1:1/docs", "--seeds", str(SEEDS)])
    assert down.exit_code == 1 and "Cannot reach the Qdrant server at qdrant://127.0.0.1:1/docs" in down.output
    assert "Traceback" not in down.output


def test_sparse_bm25_weights_rank_as_the_lexical_index():
    """The weights stored as sparse vectors sum, per question, to exactly `LexicalIndex.scores`."""
    from qa.documents.reading import read_documents
    from qa.store.lexical import LexicalIndex
    from qa.documents.passages import split_documents
    from qa.text import lexical_tokens

    texts = [p.text for p in split_documents(read_documents(SEEDS))]
    lexical = LexicalIndex.build(texts)
    weights = lexical.passage_weights()
    by_id = [{token_id(t): w for t, w in passage.items()} for passage in weights]
    for row in load_gold():
        asked = {token_id(t) for t in lexical_tokens(row["question"])}
        sparse = np.array([sum(w for i, w in p.items() if i in asked) for p in by_id], dtype=np.float32)
        np.testing.assert_allclose(sparse, lexical.scores(row["question"]), rtol=1e-5, atol=1e-5)
    assert len({token_id(t) for p in weights for t in p}) == len({t for p in weights for t in p})  # no collision


@pytest.fixture(scope="module")
def qdrant_url(tmp_path_factory, embedder) -> str:
    from qa import build_index

    url = f"qdrant+path:{tmp_path_factory.mktemp('qdrant')}/store/seeds"
    report = build_index(SEEDS, url, embedder=embedder)
    assert report.status == "built" and report.version.startswith("seeds-")
    return url


@pytest.mark.slow
def test_same_candidates_and_hits_as_faiss(qdrant_url, retriever, embedder):
    from qa import Retriever

    qdrant = Retriever.load(qdrant_url, embedder=embedder)
    try:
        assert qdrant.store.manifest.counts == retriever.store.manifest.counts
        for row in load_gold():
            vector = embedder.encode_queries([row["question"]])[0]
            a = retriever.store.candidates(row["question"], vector, 20)
            b = qdrant.store.candidates(row["question"], vector, 20)
            assert np.array_equal(a.rows, b.rows) and a.languages == b.languages
            assert np.array_equal(a.best_sentence, b.best_sentence)
            for field in ("dense", "sentence", "lexical"):
                np.testing.assert_allclose(getattr(b, field), getattr(a, field), atol=1e-4)
            faiss_hits, qdrant_hits = retriever.search(row["question"], 5), qdrant.search(row["question"], 5)
            assert [h.passage_id for h in qdrant_hits] == [h.passage_id for h in faiss_hits]
            assert all(abs(x.score - y.score) < 1e-4 for x, y in zip(faiss_hits, qdrant_hits))
        token = "armenia"
        assert qdrant.store.idf(token) == pytest.approx(retriever.store.idf(token))
        passage = retriever.passages[2]
        assert qdrant.passages[2] == passage and qdrant.store.passages.row_of(passage.id) == 2
        assert dict(qdrant.store.documents) == dict(retriever.store.documents)
    finally:
        qdrant.store.close()


@pytest.mark.slow
def test_answer_citations_quote_the_document(qdrant_url, embedder):
    from qa import Assistant, Retriever

    retriever = Retriever.load(qdrant_url, embedder=embedder)
    try:
        answer = Assistant(retriever).ask(load_gold()[0]["question"])
        assert answer.answered and answer.citations
        for citation in answer.citations:
            assert retriever.store.document_text(citation.document)[citation.start:citation.end] == citation.quote
    finally:
        retriever.store.close()


@pytest.mark.slow
def test_rebuild_switches_the_alias_atomically(qdrant_url, embedder):
    from qa import Engine, Retriever, build_index
    from qa import current_version
    from qa.store.qdrant.connection import meta_collection

    before = current_version(qdrant_url)
    unchanged = build_index(SEEDS, qdrant_url, embedder=embedder)
    assert (unchanged.status, unchanged.version) == ("up-to-date", before)
    engine = Engine(Retriever.load(qdrant_url, embedder=embedder), index_dir=qdrant_url, recheck_seconds=0)
    assert engine.version == before
    rebuilt = build_index(SEEDS, qdrant_url, embedder=embedder, force=True)
    assert rebuilt.status == "built" and rebuilt.version != before == engine.version
    assert current_version(qdrant_url) == rebuilt.version
    lease = QdrantLocation.parse(qdrant_url).connect()
    try:
        with lease as client:
            names = {c.name for c in client.get_collections().collections}
    finally:
        lease.release()
    assert names == {rebuilt.version, meta_collection(rebuilt.version)}  # the replaced version is gone
    engine.assistant()
    assert engine.version == rebuilt.version  # a running engine picks up the new build
    assert engine.search("Nagorno-Karabakh", 3).index_version == rebuilt.version


@pytest.mark.slow
def test_cli_index_search_ask_with_store(qdrant_url):
    from qa.cli.app import main

    runner = CliRunner()
    indexed = runner.invoke(main, ["index", "--seeds", str(SEEDS), "--store", qdrant_url, "--json"])
    assert indexed.exit_code == 0, indexed.output
    assert json.loads(indexed.output)["status"] == "up-to-date"
    status = runner.invoke(main, ["status", "--seeds", str(SEEDS), "--index", "ignored", "--store", qdrant_url])
    assert status.exit_code == 0 and "fresh" in status.output
    question = load_gold()[0]["question"]
    found = runner.invoke(main, ["search", "--seeds", str(SEEDS), "--store", qdrant_url, "--json", question])
    assert found.exit_code == 0, found.output
    result = json.loads(found.output)
    assert result["hits"] and result["index_version"].startswith("seeds-")
    asked = runner.invoke(main, ["ask", "--seeds", str(SEEDS), "--store", qdrant_url, "--json", question])
    assert asked.exit_code == 0, asked.output
    assert json.loads(asked.output)["citations"]


@pytest.mark.slow
def test_index_with_fusion_over_an_unreadable_manifest_rebuilds(tmp_path, embedder):
    """`qa index --fusion` keeps the index's other settings; when its manifest is unreadable it must rebuild with
    the defaults (as a folder index does), not stop on the corrupt version it is replacing."""
    from qa import build_index, current_version
    from qa.cli.app import main
    from qa.indexing.index import saved_retrieval_settings
    from qa.settings import RetrievalSettings
    from qa.store.qdrant.connection import meta_collection
    from qa.store.qdrant.store import MANIFEST_POINT

    url = f"qdrant+path:{tmp_path}/store/seeds"
    broken = build_index(SEEDS, url, embedder=embedder).version
    lease = QdrantLocation.parse(url).connect()
    try:
        with lease as client:
            client.overwrite_payload(meta_collection(broken), payload={"manifest": {"garbage": 1}},
                                     points=[MANIFEST_POINT])
    finally:
        lease.release()
    assert saved_retrieval_settings(url) == RetrievalSettings()
    rebuilt = CliRunner().invoke(main, ["index", "--seeds", str(SEEDS), "--store", url, "--fusion", "rrf", "--json"])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert json.loads(rebuilt.stdout)["status"] == "built" and current_version(url) != broken
    assert saved_retrieval_settings(url).fusion.mode == "rrf"
