"""Shared fixtures. The model and the seed index are built once per test session (both are slow-ish)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
GOLD = ROOT / "tests" / "data" / "seed_gold.jsonl"


def load_gold() -> list[dict]:
    return [json.loads(line) for line in GOLD.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="session")
def embedder():
    from qa import Embedder

    return Embedder.load()


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory, embedder) -> Path:
    """The seed documents indexed with the default model, in a temporary folder."""
    from qa import build_index

    index_dir = tmp_path_factory.mktemp("seed") / "index"
    build_index(SEEDS, index_dir, embedder=embedder)
    return index_dir


@pytest.fixture(scope="session")
def retriever(seed_index, embedder):
    from qa import Retriever

    return Retriever.load(seed_index, embedder=embedder)


@pytest.fixture
def seeds_copy(tmp_path) -> Path:
    """A writable copy of the seeds folder, for tests that change documents."""
    target = tmp_path / "seeds"
    shutil.copytree(SEEDS, target)
    return target
