"""A real `qa chat` for tests and benchmarks: the venv's `qa`, a free port, wait until it serves, always stop it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

QA_COMMAND = Path(sys.executable).parent / "qa"  # the venv's `qa`, the one `make` installs



def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ensure_index(seeds: Path, index: Path) -> None:
    """Build the index with `qa index` unless `qa status` says it is up to date (as `make chat` does)."""
    status = subprocess.run([str(QA_COMMAND), "status", "--seeds", str(seeds), "--index", str(index)],
                            capture_output=True, text=True)
    if status.returncode != 0:
        print(f"index: {status.stdout.strip() or status.stderr.strip()}; running qa index", flush=True)
        subprocess.run([str(QA_COMMAND), "index", "--seeds", str(seeds), "--index", str(index)], check=True)


@contextmanager
def chat_server(index: Path, seeds: Path, log_path: Path, port: int = 0, timeout: float = 180.0,
                extra_args: Sequence[str] = ()) -> Iterator[str]:
    """`qa chat` on 127.0.0.1:`port` (a free one when 0) as a subprocess; yields its URL once it serves the page,
    and always stops it (its own process group, so nothing it started is left behind)."""
    import httpx

    port = port or free_port()
    url = f"http://127.0.0.1:{port}/"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [str(QA_COMMAND), "chat", "--index", str(index), "--seeds", str(seeds), "--host", "127.0.0.1",
             "--port", str(port), "--feedback", str(log_path.with_name("feedback.jsonl")), *extra_args],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            deadline = time.monotonic() + timeout
            while True:
                if server.poll() is not None:
                    raise RuntimeError(f"qa chat exited with code {server.returncode}; see {log_path}:\n"
                                       + log_path.read_text("utf-8", "replace")[-2000:])
                try:
                    if httpx.get(url + "gradio_api/info", timeout=5).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"qa chat did not serve {url} within {timeout:.0f} s; see {log_path}")
                time.sleep(0.5)
            yield url
        finally:
            stop(server)


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to the process's group, SIGKILL if it is still there after 15 s."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)
    except ProcessLookupError:
        pass
