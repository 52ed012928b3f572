"""Where the project's one trained-weights file lives: the reader's tensors and, beside them, the query adapter.

The repository carries a single file of trained tensors (README, "The reader"); every part that reads it (the reader's
export, the query adapter) takes its path from here, so no engine module depends on another's internals for it.
"""

from __future__ import annotations

from pathlib import Path

TRAINED_WEIGHTS = Path(__file__).resolve().parent / "reader" / "weights" / "reader.safetensors"
