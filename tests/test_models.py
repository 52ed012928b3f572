"""Models and devices: any hub model downloads when the hub is reachable (and says clearly when it is not, or
when HF_HUB_OFFLINE forbids it), the device is chosen automatically or forced, the batch size is a setting."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

import qa
from qa.embedding.embeddings import resolve_batch_size, resolve_device

MINILM = "sentence-transformers/all-MiniLM-L6-v2"


def test_auto_picks_the_best_device_torch_has_and_a_forced_one_is_kept(monkeypatch):
    import torch

    monkeypatch.delenv("QA_DEVICE", raising=False)
    best = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    assert resolve_device() == resolve_device("auto") == best
    assert resolve_device("CPU") == "cpu" and resolve_device("cuda:1") == "cuda:1"
    monkeypatch.setenv("QA_DEVICE", "mps")
    assert resolve_device() == "mps"
    for bad in ("tpu", "cuda:x", "gpu"):
        with pytest.raises(qa.InvalidArgumentError, match="Unknown device"):
            resolve_device(bad)


def test_batch_size_from_the_argument_or_the_environment(monkeypatch):
    monkeypatch.delenv("QA_BATCH_SIZE", raising=False)
    assert resolve_batch_size() == 32 and resolve_batch_size(8) == 8
    monkeypatch.setenv("QA_BATCH_SIZE", "64")
    assert resolve_batch_size() == 64
    for bad in (0, -1, 5000, "many", True):
        with pytest.raises(qa.InvalidArgumentError, match="batch size"):
            resolve_batch_size(bad)


@pytest.mark.slow
def test_a_model_loads_on_the_device_and_batch_size_asked_for():
    embedder = qa.Embedder.load(MINILM, device="cpu", batch_size=3)
    assert embedder.model.device.type == "cpu" and embedder.batch_size == 3
    vectors = embedder.encode_passages(["one", "two", "three", "four", "five"])
    assert vectors.shape == (5, embedder.dimension)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when the block ends: connecting is refused


def run_index(tmp_path, model: str, **env: str) -> subprocess.CompletedProcess:
    seeds = tmp_path / "seeds"
    seeds.mkdir(exist_ok=True)
    (seeds / "a.md").write_text("# A\n\nThe lighthouse has 12 lamps.\n", encoding="utf-8")
    environment = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    return subprocess.run([sys.executable, "-m", "qa", "index", "--seeds", str(seeds), "--index",
                           str(tmp_path / "index"), "--model", model], capture_output=True, text=True,
                          timeout=120, env={**environment, **env})


def test_a_hub_model_that_cannot_be_downloaded_gets_a_clear_error_at_once(tmp_path):
    started = time.perf_counter()
    run = run_index(tmp_path, "example-org/not-in-any-cache", HF_ENDPOINT=f"http://127.0.0.1:{closed_port()}")
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "Error: Cannot download the embedding model 'example-org/not-in-any-cache'" in run.stderr
    assert "cannot be reached" in run.stderr and "--model PATH" in run.stderr
    assert time.perf_counter() - started < 60  # one probe, not the hub client's minute of retries


def test_with_hf_hub_offline_a_missing_model_is_not_fetched(tmp_path):
    run = run_index(tmp_path, "example-org/not-in-any-cache", HF_HUB_OFFLINE="1")
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "offline" in run.stderr and "unset HF_HUB_OFFLINE to download it" in run.stderr


def test_a_bad_device_on_the_command_line_is_a_usage_error(tmp_path):
    run = subprocess.run([sys.executable, "-m", "qa", "search", "Where?", "--device", "tpu"], capture_output=True,
                         text=True, timeout=120, cwd=tmp_path)
    assert run.returncode == 2 and "Unknown device 'tpu'" in run.stderr
