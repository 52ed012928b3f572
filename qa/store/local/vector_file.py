"""Rows of a saved vector matrix (.npy), read on demand with `pread` rather than through a memory map.

Why: a question needs the exact vectors of its few hundred candidates, scattered over a file of gigabytes at a
million passages. Touching them through a memory map makes the kernel read ahead and map the neighbouring pages
too (64–128 KB a fault for a 1.5 KB vector), so a process's resident memory grows towards the file's size and,
under a memory limit, the useful pages are evicted by the useless ones. `pread` reads exactly the bytes asked
for into the caller's array, with read-ahead switched off for the file (`POSIX_FADV_RANDOM`): the page cache keeps
only what questions touch, and nothing is mapped into the process. `os.preadv` needs no shared file position,
so threads may read at once (POSIX only, as is the `flock` that `qa.store.local.versions` pins versions with).
Whole-matrix uses (reusing vectors on a rebuild, recall checks) keep the memory map, which costs nothing until
read.
"""

from __future__ import annotations

import os
import weakref
from pathlib import Path

import numpy as np


class VectorFile:
    """A 2-D C-ordered .npy matrix: `array` memory-mapped, `gather` reading row ranges with pread."""

    def __init__(self, path: Path | str) -> None:
        self.array = np.load(path, mmap_mode="r")
        if self.array.ndim != 2 or not self.array.flags.c_contiguous:
            raise ValueError(f"{path} does not hold a C-ordered matrix (shape {self.array.shape})")
        self._row_bytes = self.array.shape[1] * self.array.dtype.itemsize
        self._offset = int(self.array.offset)
        self._fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        self._closer = weakref.finalize(self, os.close, self._fd)
        if hasattr(os, "posix_fadvise"):  # not on macOS: its read-ahead then stays on, which is only slower
            os.posix_fadvise(self._fd, 0, 0, os.POSIX_FADV_RANDOM)

    def close(self) -> None:
        """Close the file now (otherwise when the reader is garbage-collected); `array` stays readable."""
        self._closer()
        self._fd = -1  # a closed number may be reused by another file: never read through it

    @property
    def shape(self) -> tuple[int, ...]:
        return self.array.shape

    def __len__(self) -> int:
        return len(self.array)

    def gather(self, starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """Rows starts[i] .. starts[i] + counts[i] - 1 for each i, one after another, as float32. Ranges that
        follow on from each other on disk are read in one call."""
        starts, counts = np.asarray(starts, dtype=np.int64), np.asarray(counts, dtype=np.int64)
        keep = counts > 0
        starts, counts = starts[keep], counts[keep]
        out = np.empty((int(counts.sum()), self.array.shape[1]), dtype=self.array.dtype)
        if not len(out):
            return out.astype(np.float32, copy=False)
        if self._fd < 0:
            raise ValueError(f"{self.array.filename} was closed")
        if starts.min() < 0 or (starts + counts).max() > len(self.array):
            raise IndexError(f"rows outside 0..{len(self.array) - 1}")
        ends = starts + counts
        runs = np.flatnonzero(np.r_[True, starts[1:] != ends[:-1]])  # first range of each contiguous run
        run_starts, run_ends = starts[runs], np.r_[ends[runs[1:] - 1], ends[-1]]
        flat = out.reshape(-1).view(np.uint8)
        cursor = 0
        for first, end in zip(run_starts.tolist(), run_ends.tolist()):
            size = (end - first) * self._row_bytes
            view = flat[cursor:cursor + size]
            done = os.preadv(self._fd, [view], self._offset + first * self._row_bytes)
            while done < size:  # a short read (rare): carry on from where it stopped
                more = os.preadv(self._fd, [view[done:]], self._offset + first * self._row_bytes + done)
                if more <= 0:
                    raise OSError(f"{self.array.filename} ended early (row {first})")
                done += more
            cursor += size
        return out.astype(np.float32, copy=False)

    def rows(self, rows: np.ndarray) -> np.ndarray:
        """The given rows, in the given order."""
        rows = np.asarray(rows, dtype=np.int64)
        return self.gather(rows, np.ones(len(rows), dtype=np.int64))
