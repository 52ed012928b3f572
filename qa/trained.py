"""Where the project's one trained-weights file lives: the reader's tensors and, beside them, the query adapter.

The repository carries a single file of trained tensors (README, "The reader"); every part that reads it (the reader's
export, the query adapter) takes its path from here, so no engine module depends on another's internals for it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

TRAINED_WEIGHTS = Path(__file__).resolve().parent / "reader" / "weights" / "reader.safetensors"


def replace_file(target: Path, write: Callable[[Path], None]) -> None:
    """Replace `target` whole (a reader never sees half a file): `write` fills a temporary file beside it, which
    takes `target`'s mode and then its place; nothing is left behind if `write` fails. For the files the training
    and calibration scripts rewrite in place (the weights, the calibration)."""
    handle, partial = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(handle)
    try:
        write(Path(partial))
        if target.exists():
            os.chmod(partial, target.stat().st_mode & 0o777)  # mkstemp's file is private; keep the file's own mode
        os.replace(partial, target)
    finally:
        Path(partial).unlink(missing_ok=True)
