"""The reader's word-vector table (250,002 × 384, fp16, `reader-embeddings.npy`), read row by row.

Why not a memory map: a mapped row costs a page, and the kernel maps up to 16 pages around each one it faults in
(more when the file is not yet cached), so one question's few hundred tokens held 40-100 MiB of the file in the
process, varying with the page cache: a cold `qa ask` peaked anywhere from 305 to 368 MiB. `os.pread` copies
only the rows asked for (768 bytes each), the same every time, and needs no shared file position, so one table
serves every thread.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


class WordVectors:
    """Rows of a C-ordered 2-D `.npy` file, read on demand."""

    def __init__(self, path: Path | str) -> None:
        self._file = open(path, "rb", buffering=0)  # closed with this object
        try:
            version = np.lib.format.read_magic(self._file)
            read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                           (2, 0): np.lib.format.read_array_header_2_0}.get(version)
            if read_header is None:
                raise ValueError(f"{path}: .npy format {version} is not read here")
            shape, fortran_order, dtype = read_header(self._file)
        except BaseException:
            self._file.close()
            raise
        if fortran_order or len(shape) != 2:
            self._file.close()
            raise ValueError(f"{path} is not a C-ordered 2-D array (shape {shape}, Fortran order {fortran_order})")
        self.shape, self.dtype = shape, np.dtype(dtype)
        self._offset = self._file.tell()
        self._row_bytes = shape[1] * self.dtype.itemsize

    def rows(self, ids: np.ndarray) -> np.ndarray:
        """`table[ids]` as float32, each distinct row read once."""
        distinct, positions = np.unique(np.asarray(ids, dtype=np.int64), return_inverse=True)
        if len(distinct) and (distinct[0] < 0 or distinct[-1] >= self.shape[0]):
            raise IndexError(f"token id out of range 0..{self.shape[0] - 1}")
        fd, size, offset = self._file.fileno(), self._row_bytes, self._offset
        data = b"".join(os.pread(fd, size, offset + int(row) * size) for row in distinct)
        table = np.frombuffer(data, dtype=self.dtype).reshape(len(distinct), self.shape[1])
        return table[positions].astype(np.float32)

    def close(self) -> None:
        self._file.close()

    def __del__(self) -> None:
        file = getattr(self, "_file", None)
        if file is not None:
            file.close()
