"""Versioned index folders behind one atomic pointer, a writer lock and reader pins (file-system only; what a
version holds is `qa.indexing.index`'s business).

An index folder looks like:
  CURRENT            the id of the version readers open, switched with one fsync'd `os.replace`
  versions/<id>/     one complete build each; `.pin` in it is share-locked by every process reading it
  .tmp-<id>/         a build being written (swept by the next writer if its writer died)
  .write.lock        held (flock) by the one process building; it names that process
Why: a reader resolves CURRENT once and opens only that version, so it sees the old build or the new one, never a
mix and never "no index"; a `kill -9` at any moment leaves CURRENT naming a complete version. Locks are flock(2)
locks, which the kernel drops when their process dies, so a crashed writer or reader never blocks anyone.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

from qa.errors import IndexBusyError

POINTER = "CURRENT"
VERSIONS = "versions"
PIN = ".pin"
WRITE_LOCK = ".write.lock"
STAGING_PREFIX = ".tmp-"
OPEN_ATTEMPTS = 20  # a version can be swept between reading CURRENT and pinning it; then read CURRENT again


def current_version(root: Path | str) -> str | None:
    """The version id CURRENT names, or None when there is none (cheap: one small read)."""
    try:
        value = (Path(root) / POINTER).read_text(encoding="utf-8").strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return value or None


def version_path(root: Path | str, version: str) -> Path:
    return Path(root) / VERSIONS / version


@dataclass(frozen=True)
class Pinned:
    """An open version: its id, folder and the share-locked pin that keeps writers from sweeping it."""

    version: str
    path: Path
    pin: IO[bytes]

    def release(self) -> None:
        self.pin.close()  # closing the file drops the lock


def pin_current(root: Path | str, required: str) -> Pinned | None:
    """Pin the version CURRENT names so it stays on disk while it is read; None when there is no CURRENT.

    `required` is a file every complete version has: its absence means a writer swept the version after we read
    CURRENT, and we read CURRENT again."""
    root = Path(root)
    for _ in range(OPEN_ATTEMPTS):
        version = current_version(root)
        if version is None:
            return None
        path = version_path(root, version)
        try:
            pin = open(path / PIN, "rb")
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(pin, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:  # a writer is sweeping this very version
            pin.close()
            time.sleep(0.01)
            continue
        if (path / required).exists():
            return Pinned(version, path, pin)
        pin.close()
    raise IndexBusyError(f"{root} kept changing while it was opened ({OPEN_ATTEMPTS} attempts); try again.")


@contextmanager
def writer_lock(root: Path | str, wait: float = 0.0) -> Iterator[None]:
    """Hold the index's one writer lock; wait up to `wait` seconds for another writer, then `IndexBusyError`."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    handle = open(root / WRITE_LOCK, "a+", encoding="utf-8")
    try:
        deadline = time.monotonic() + max(wait, 0.0)
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    handle.seek(0)
                    holder = handle.read().strip() or "another process"
                    raise IndexBusyError(
                        f"{root} is being built by {holder}. Wait for it to finish, or run again with --wait SECONDS."
                    ) from None
                time.sleep(0.1)
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()} since {datetime.now(timezone.utc).isoformat(timespec='seconds')}")
        handle.flush()
        yield
    finally:
        handle.close()


def new_staging(root: Path | str) -> Path:
    """An empty folder to write a build into; call only while holding the writer lock."""
    path = Path(root) / f"{STAGING_PREFIX}{uuid.uuid4().hex[:12]}"
    path.mkdir(parents=True)
    return path


def publish(root: Path | str, staging: Path) -> str:
    """Move a fully written, fsync'd staging folder into versions/ and point CURRENT at it, atomically."""
    root = Path(root)
    version = f"{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    (staging / PIN).touch()
    fsync_path(staging / PIN)
    fsync_path(staging)
    (root / VERSIONS).mkdir(exist_ok=True)
    os.rename(staging, version_path(root, version))
    fsync_path(root / VERSIONS)
    pointer = root / f"{POINTER}.{uuid.uuid4().hex[:8]}.tmp"
    with open(pointer, "w", encoding="utf-8") as handle:
        handle.write(version + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(pointer, root / POINTER)
    fsync_path(root)
    return version


def sweep(root: Path | str) -> list[str]:
    """Remove leftover staging folders and every version but CURRENT that no process has pinned; call only while
    holding the writer lock. Returns the removed names."""
    root = Path(root)
    removed = []
    for path in root.glob(f"{STAGING_PREFIX}*"):
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path.name)
    for path in root.glob(f"{POINTER}.*.tmp"):
        path.unlink(missing_ok=True)
        removed.append(path.name)
    keep = current_version(root)
    versions = root / VERSIONS
    for path in sorted(versions.iterdir()) if versions.is_dir() else []:
        if path.name != keep and _remove_unpinned(path):
            removed.append(path.name)
    return removed


def _remove_unpinned(path: Path) -> bool:
    try:
        pin = open(path / PIN, "rb")
    except FileNotFoundError:  # not a complete version (a crash between rename and pin cannot happen, but be safe)
        shutil.rmtree(path, ignore_errors=True)
        return True
    with pin:
        try:
            fcntl.flock(pin, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # a reader has it open: the next build sweeps it
        shutil.rmtree(path, ignore_errors=True)
        return True


def fsync_path(path: Path) -> None:
    """fsync a file or a folder (a folder's fsync makes the renames inside it durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as error:  # some file systems cannot fsync a folder; the data files were fsync'd already
        if error.errno not in (errno.EINVAL, errno.EBADF):
            raise
    finally:
        os.close(fd)
