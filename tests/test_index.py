"""The index on disk: manifest, staleness, reuse of vectors, atomic writes, clear errors."""

import json
import os

import numpy as np
import pytest

from qa import (IndexCorruptError, IndexMismatchError, IndexNotFoundError, IndexStore, IndexWriteError, Retriever,
                SeedsNotFoundError, build_index, current_version, index_status)
from qa.indexing.index import Manifest, seed_hashes
from qa.store.local.versions import version_path

from conftest import SEEDS

pytestmark = pytest.mark.slow


def test_manifest_records_model_dimension_seeds_chunking_and_counts(seed_index, embedder):
    manifest = Manifest.read(seed_index)
    assert manifest.model == embedder.name
    assert manifest.dimension == embedder.dimension == 384
    assert manifest.seeds == seed_hashes(SEEDS)
    assert list(manifest.seeds) == ["000_ae2b548a11784ba7.txt"]
    assert manifest.counts["documents"] == 1 and manifest.counts["passages"] >= 5
    assert manifest.index_type == "IndexFlatIP"
    assert manifest.chunking["fingerprint"] and manifest.built_at
    store = IndexStore.load(seed_index)
    assert store.sentence_vectors.shape == (manifest.counts["sentences"], 384)
    norms = np.linalg.norm(store.passage_vectors(), axis=1)
    assert np.allclose(norms, 1.0, atol=1e-4)  # inner product = cosine


def test_unchanged_seeds_are_not_re_embedded_and_changed_seeds_make_it_stale(seeds_copy, tmp_path, embedder):
    index_dir = tmp_path / "index"
    first = build_index(seeds_copy, index_dir, embedder=embedder)
    assert first.status == "built" and first.reused_texts == 0 and first.embedded_texts >= first.passages
    assert index_status(seeds_copy, index_dir, embedder.name).fresh
    again = build_index(seeds_copy, index_dir, embedder=embedder)
    assert again.status == "up-to-date" and again.embedded_texts == 0

    (seeds_copy / "extra.md").write_text("# Extra\n\nThủ đô của Armenia là Yerevan.\n", encoding="utf-8")
    status = index_status(seeds_copy, index_dir, embedder.name)
    assert status.state == "stale" and "extra.md" in status.reason
    refreshed = build_index(seeds_copy, index_dir, embedder=embedder)
    assert refreshed.status == "built" and refreshed.documents == 2
    # only the new document's one text (passage = its only sentence) was embedded; the seed's vectors were reused
    assert refreshed.embedded_texts == 1 and refreshed.reused_texts == first.embedded_texts
    retriever = Retriever.load(index_dir, embedder=embedder)
    assert retriever.search("Thủ đô của Armenia là gì?", k=1)[0].citation.document == "extra.md"
    # reused vectors are the same as freshly computed ones
    fresh = build_index(seeds_copy, tmp_path / "fresh", embedder=embedder)
    assert fresh.reused_texts == 0
    np.testing.assert_allclose(IndexStore.load(index_dir).passage_vectors(),
                               IndexStore.load(tmp_path / "fresh").passage_vectors(), atol=1e-5)


def test_a_seed_saved_during_a_build_is_indexed_as_one_version_with_its_own_hash(tmp_path, embedder, monkeypatch):
    """The manifest's hash of a seed is of exactly the bytes indexed: a file saved mid-build leaves the index
    stale (the next build picks the edit up), and saving the old text back makes it fresh again, rightly."""
    import hashlib

    import qa.documents.reading as reading
    import qa.indexing.index as indexing

    seeds = tmp_path / "seeds"
    seeds.mkdir()
    note = seeds / "note.txt"
    old, new = "Ghi chú\n\nCuộc họp lúc 9 giờ.\n", "Ghi chú\n\nCuộc họp dời sang 14 giờ.\n"
    note.write_text(old, encoding="utf-8")
    read = reading.read_seed

    def read_then_save_over(path):
        raw = read(path)
        note.write_text(new, encoding="utf-8")  # the user's editor saves just after the build read the file
        return raw

    for module in (reading, indexing):  # every read of a seed, wherever it is made
        monkeypatch.setattr(module, "read_seed", read_then_save_over)
    build_index(seeds, tmp_path / "index", embedder=embedder)
    monkeypatch.undo()
    store = IndexStore.load(tmp_path / "index")
    assert "9 giờ" in store.document_text("note.txt")
    assert store.manifest.seeds["note.txt"] == hashlib.sha256(old.encode()).hexdigest()
    assert index_status(seeds, tmp_path / "index", embedder.name).state == "stale"
    note.write_text(old, encoding="utf-8")
    assert index_status(seeds, tmp_path / "index", embedder.name).fresh


def test_a_splitting_change_re_embeds_exactly_the_texts_it_changed(seeds_copy, tmp_path, embedder):
    """Reuse is keyed by the exact text embedded: windows cut differently get new vectors, never old ones by
    position, and every stored vector equals a fresh embedding of its own text."""
    from qa import ChunkingSettings

    index_dir = tmp_path / "index"
    build_index(seeds_copy, index_dir, embedder=embedder)
    narrow = ChunkingSettings(max_words=40, overlap_sentences=1)
    assert index_status(seeds_copy, index_dir, embedder.name, narrow).state == "stale"
    rebuilt = build_index(seeds_copy, index_dir, embedder=embedder, settings=narrow)
    store = IndexStore.load(index_dir)
    texts = {p.text for p in store.passages} | {s.text for p in store.passages for s in p.sentences}
    assert rebuilt.reused_texts > 0 and rebuilt.embedded_texts + rebuilt.reused_texts == len(texts)
    expected = embedder.encode_passages([p.text for p in store.passages])
    np.testing.assert_allclose(store.passage_vectors(), expected, atol=1e-4)


def test_a_failed_build_leaves_the_previous_index_intact(seeds_copy, tmp_path, embedder, monkeypatch):
    index_dir = tmp_path / "index"
    build_index(seeds_copy, index_dir, embedder=embedder)
    before = _files(index_dir)
    (seeds_copy / "new.txt").write_text("Tiêu đề\n\nMột đoạn văn mới.\n", encoding="utf-8")

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("qa.store.local.store.faiss.write_index", crash)
    with pytest.raises(IndexWriteError, match="disk full.*unchanged"):
        build_index(seeds_copy, index_dir, embedder=embedder)
    assert _files(index_dir) == before  # no temporary folder left behind either
    assert IndexStore.load(index_dir).manifest.counts["documents"] == 1


def _files(index_dir):
    """Every file of an index folder but the writer's lock note, with its bytes."""
    return {p.relative_to(index_dir).as_posix(): p.read_bytes() for p in index_dir.rglob("*")
            if p.is_file() and p.name != ".write.lock"}


def _current(index_dir):
    return version_path(index_dir, current_version(index_dir))


def test_missing_index_says_how_to_build_it(tmp_path):
    with pytest.raises(IndexNotFoundError, match="qa index"):
        IndexStore.load(tmp_path / "nothing")


@pytest.mark.parametrize("damage", ["truncate", "delete", "manifest"])
def test_damaged_index_gives_a_clear_error_with_the_fix(seed_index, tmp_path, damage):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(seed_index, broken)
    version = _current(broken)
    if damage == "truncate":
        path = version / "passages.faiss"
        path.write_bytes(path.read_bytes()[:100])
    elif damage == "delete":
        os.remove(version / "sentences.npy")
    else:
        (version / "manifest.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(IndexCorruptError, match="qa index"):
        IndexStore.load(broken)


def test_model_or_dimension_mismatch_is_refused(seed_index, tmp_path):
    import shutil

    other = tmp_path / "other"
    shutil.copytree(seed_index, other)
    manifest_path = _current(other) / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    with pytest.raises(IndexMismatchError, match="built with"):
        Retriever.load(other, model="sentence-transformers/all-MiniLM-L6-v2")
    manifest["format_version"] = 999
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexMismatchError, match="format"):
        IndexStore.load(other)


def test_dimension_mismatch_between_model_and_index(seed_index):
    from qa import Embedder

    minilm = Embedder.load("sentence-transformers/all-MiniLM-L6-v2")
    store = IndexStore.load(seed_index)
    with pytest.raises(IndexMismatchError, match="384|dimension"):
        Retriever(store, _FakeDimension(minilm, 768))


class _FakeDimension:
    """A real model reporting another size, as a differently sized model would."""

    def __init__(self, embedder, dimension):
        self.name, self.dimension = embedder.name, dimension


def test_a_model_change_makes_the_index_incompatible(seed_index):
    status = index_status(seed_index.parent, seed_index, "sentence-transformers/all-MiniLM-L6-v2")
    assert status.state == "incompatible" and "built with" in status.reason


def test_no_documents_is_a_clear_error(tmp_path, embedder):
    (tmp_path / "seeds").mkdir()
    with pytest.raises(SeedsNotFoundError, match="No readable"):
        build_index(tmp_path / "seeds", tmp_path / "index", embedder=embedder)
    with pytest.raises(SeedsNotFoundError, match="not found"):
        build_index(tmp_path / "missing", tmp_path / "index", embedder=embedder)


def test_large_corpora_get_an_approximate_index_that_still_finds_the_answer(tmp_path, embedder, monkeypatch):
    """Above the exact-search limit the index is an inverted file (IVF); lowered here so the seed crosses it."""
    monkeypatch.setattr("qa.store.local.store.EXACT_SEARCH_LIMIT", 3)
    build_index(SEEDS, tmp_path / "index", embedder=embedder)
    assert Manifest.read(tmp_path / "index").index_type == "IndexIVFScalarQuantizer"
    retriever = Retriever.load(tmp_path / "index", embedder=embedder)
    assert "Moscow" in retriever.search("Hiệp định ngừng bắn được ký ở thành phố nào?", k=1)[0].text
