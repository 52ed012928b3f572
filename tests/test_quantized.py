"""The opt-in int8 passage encoder (`qa index --quantize int8`): close to fp32, recorded, never mixed with fp32.

The small English MiniLM keeps the one-time export quick (its ONNX file goes to a temporary cache, made once
for the whole session); the default E5 is measured by scripts/bench_index.py and scripts/bench_quality.py.
"""

import json
from types import SimpleNamespace

import numpy as np
import pytest

from qa import Embedder, InvalidArgumentError, QuantizationUnsupportedError
from qa.embedding.quantized import FP32_ENCODER, INT8_ENCODER, check_supported, resolve_quantize
from qa.store.local.store import Manifest

from conftest import SEEDS

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
DOCUMENTS = {
    "lighthouse.md": "# The Lighthouse\n\nThe lighthouse on Pharos island was built in the third century BC. "
                     "It stood more than a hundred metres tall and guided ships into the harbour of Alexandria.\n",
    "volcano.md": "# Mount Etna\n\nMount Etna is an active volcano on the east coast of Sicily. Its eruptions "
                  "have shaped the fertile soil where farmers grow oranges and pistachios.\n",
    "river.md": "# The Mekong\n\nThe Mekong flows from the Tibetan Plateau through six countries before it reaches "
                "the sea in southern Vietnam, where its delta feeds millions of people with rice and fish.\n",
}


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("qa-cache")


@pytest.fixture(scope="session")
def int8(cache_dir):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("QA_CACHE_DIR", str(cache_dir))
        return Embedder.load(MODEL, quantize="int8")


@pytest.fixture(scope="session")
def fp32():
    return Embedder.load(MODEL)


@pytest.fixture
def english_seeds(tmp_path):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for name, text in DOCUMENTS.items():
        (seeds / name).write_text(text, encoding="utf-8")
    return seeds


def test_quantize_comes_from_the_argument_else_the_environment(monkeypatch):
    monkeypatch.delenv("QA_QUANTIZE", raising=False)
    assert resolve_quantize() == "none" and resolve_quantize("INT8") == "int8"
    monkeypatch.setenv("QA_QUANTIZE", "int8")
    assert resolve_quantize() == "int8" and resolve_quantize("none") == "none"
    with pytest.raises(InvalidArgumentError, match="'foo'"):
        resolve_quantize("foo")


def test_a_model_it_cannot_reproduce_is_a_clear_error():
    class Config:
        model_type = "bert"

    class Transformer:
        auto_model = type("Model", (), {"config": Config()})()

    class Pooling:
        pooling_mode = "cls"

    with pytest.raises(QuantizationUnsupportedError, match="not mean pooling"):
        check_supported([Transformer(), Pooling()], "some/cls-model")
    with pytest.raises(QuantizationUnsupportedError, match="modules are"):
        check_supported([Transformer()], "some/bare-transformer")


@pytest.mark.slow
def test_int8_vectors_are_close_to_fp32_and_questions_stay_fp32(int8, fp32, cache_dir):
    texts = [line for line in (SEEDS / "000_ae2b548a11784ba7.txt").read_text(encoding="utf-8").splitlines()
             if line.strip()][:40] + [t for doc in DOCUMENTS.values() for t in doc.split(". ")]
    assert int8.encoder == INT8_ENCODER and fp32.encoder == FP32_ENCODER
    cosine = np.sum(int8.encode_passages(texts) * fp32.encode_passages(texts), axis=1)
    assert cosine.mean() >= 0.98 and cosine.min() >= 0.95, (cosine.mean(), cosine.min())
    question = ["Where did the lighthouse guide ships?"]
    np.testing.assert_allclose(int8.encode_queries(question), fp32.encode_queries(question), atol=1e-6)
    assert int8.model.export.folder.parent == cache_dir / "onnx" and not int8.model.export.cached


@pytest.mark.slow
def test_an_int8_vector_depends_only_on_its_text(int8):
    """Activations are quantised per run: batched, a text's vector moved with its batch-mates, and a rebuild that
    reuses vectors by text would have mixed two encodings of the same text."""
    texts = [t for doc in DOCUMENTS.values() for t in doc.split(". ")]
    alone = np.vstack([int8.encode_passages([t]) for t in texts])
    together = int8.encode_passages(texts)
    reordered = int8.encode_passages(texts[::-1])[::-1]
    np.testing.assert_array_equal(together, alone)
    np.testing.assert_array_equal(reordered, alone)


@pytest.mark.slow
def test_the_feed_forward_down_projections_stay_fp32_and_the_rest_is_int8(int8):
    """The recipe (see qa.embedding.quantized): every layer's down-projection a plain fp32 MatMul, other products int8."""
    import onnx

    from qa.embedding.quantized import MODEL_FILE

    graph = onnx.load(str(int8.model.export.folder / MODEL_FILE)).graph
    config = int8.model.query_model[0].auto_model.config
    shapes = {weight.name: tuple(weight.dims) for weight in graph.initializer}
    plain = [shapes.get(node.input[1]) for node in graph.node if node.op_type == "MatMul"]
    assert plain.count((config.intermediate_size, config.hidden_size)) == config.num_hidden_layers, plain
    kinds = [node.op_type for node in graph.node]
    assert kinds.count("QAttention") == config.num_hidden_layers
    assert kinds.count("MatMulInteger") == 2 * config.num_hidden_layers, sorted(set(kinds))


def qa(*args, cache_dir):
    """`qa` in-process through click (a new process per call would import torch each time)."""
    from click.testing import CliRunner

    from qa.cli.app import main

    result = CliRunner().invoke(main, [str(a) for a in args], env={"QA_CACHE_DIR": str(cache_dir)})
    return SimpleNamespace(returncode=result.exit_code, stdout=result.stdout, stderr=result.stderr)


@pytest.mark.slow
def test_qa_index_int8_answers_records_its_encoder_and_never_mixes_vectors(int8, cache_dir, english_seeds,
                                                                         tmp_path):
    index = tmp_path / "index"
    where = ("--seeds", english_seeds, "--index", index, "--model", MODEL)
    built = qa("index", *where, "--quantize", "int8", "--json", cache_dir=cache_dir)
    assert built.returncode == 0, built.stderr
    assert "Exporting" not in built.stderr  # the session's export is reused, not made again
    assert Manifest.read(index).encoder == INT8_ENCODER
    search = qa("search", "Which river has a delta in Vietnam?", "-k", "1", "--json", *where, cache_dir=cache_dir)
    assert search.returncode == 0, search.stderr
    assert json.loads(search.stdout)["hits"][0]["citation"]["document"] == "river.md"

    again = qa("index", *where, "--quantize", "int8", "--json", cache_dir=cache_dir)
    assert json.loads(again.stdout)["status"] == "up-to-date"
    for quantize, encoder in (("none", FP32_ENCODER), ("int8", INT8_ENCODER)):  # each switch re-embeds it all
        switched = qa("index", *where, "--quantize", quantize, "--json", cache_dir=cache_dir)
        assert switched.returncode == 0, switched.stderr
        report = json.loads(switched.stdout)
        assert report["status"] == "built" and report["reused_texts"] == 0 and report["embedded_texts"] > 0
        assert Manifest.read(index).encoder == encoder


@pytest.mark.slow
def test_an_unknown_quantisation_is_refused_on_stderr(english_seeds, tmp_path, cache_dir):
    run = qa("index", "--seeds", english_seeds, "--index", tmp_path / "index", "--quantize", "foo",
             cache_dir=cache_dir)
    assert run.returncode == 2 and "'foo'" in run.stderr and "int8" in run.stderr
    assert not (tmp_path / "index").exists()
