"""Candidates' vectors read with pread (`qa.store.local.vector_file`): the same numbers as the memory map, nothing mapped."""

from __future__ import annotations

import os

import numpy as np
import pytest

from qa.store.local.vector_file import VectorFile


@pytest.fixture
def matrix(tmp_path):
    vectors = np.random.default_rng(0).standard_normal((20_000, 96)).astype(np.float32)
    path = tmp_path / "vectors.npy"
    np.save(path, vectors)
    return path, vectors


def test_gather_reads_the_same_rows_as_indexing(matrix):
    path, vectors = matrix
    reader = VectorFile(path)
    rng = np.random.default_rng(1)
    starts = np.sort(rng.choice(len(vectors) - 10, size=300, replace=False))
    starts[10:20] = starts[9]  # ranges that overlap
    counts = rng.integers(0, 6, size=len(starts))
    counts[30:40] = 1
    starts[31:40] = starts[30] + np.arange(1, 10)  # a run of neighbours: read in one call
    expected = np.concatenate([vectors[s:s + c] for s, c in zip(starts, counts)])
    np.testing.assert_array_equal(reader.gather(starts, counts), expected)
    rows = rng.choice(len(vectors), size=500)  # any order, repeats allowed
    np.testing.assert_array_equal(reader.rows(rows), vectors[rows])
    assert reader.gather(np.zeros(0), np.zeros(0)).shape == (0, 96)
    assert reader.shape == vectors.shape and len(reader) == len(vectors)


def test_rows_outside_the_file_are_refused(matrix):
    path, vectors = matrix
    with pytest.raises(IndexError):
        VectorFile(path).rows(np.array([len(vectors)]))
    with pytest.raises(IndexError):
        VectorFile(path).gather(np.array([len(vectors) - 2]), np.array([3]))


def test_a_file_that_is_not_a_matrix_is_refused(tmp_path):
    np.save(tmp_path / "flat.npy", np.zeros(10, dtype=np.float32))
    with pytest.raises(ValueError, match="matrix"):
        VectorFile(tmp_path / "flat.npy")


def _mapped_kib() -> int:
    fields = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
    return int(fields["RssFile"].split()[0])


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux's /proc")
def test_scattered_reads_map_nothing_into_the_process(matrix):
    """What keeps a million-passage index's resident memory small: scattered rows read through the memory map
    map whole pages and their neighbours into the process; read with pread they map nothing."""
    path, _ = matrix
    rows = np.random.default_rng(2).choice(20_000, size=2_000, replace=False)
    reader = VectorFile(path)
    before = _mapped_kib()
    reader.rows(rows)
    by_pread = _mapped_kib() - before
    mapped = np.load(path, mmap_mode="r")
    before = _mapped_kib()
    np.asarray(mapped[rows])
    by_map = _mapped_kib() - before
    assert by_pread < 256, by_pread
    assert by_map > 2_000, by_map  # the comparison is sensitive: the map's pages do show


def test_a_closed_reader_refuses_to_read(matrix):
    path, vectors = matrix
    reader = VectorFile(path)
    reader.close()
    reader.close()  # twice is harmless
    with pytest.raises(ValueError, match="closed"):
        reader.rows(np.array([0]))
