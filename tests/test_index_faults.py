"""The index under faults, with real processes: `kill -9` during rebuilds, readers during rebuilds, two writers,
and file-system errors. The small English MiniLM keeps each `qa index` process quick; the behaviour under test is
the store's, not the model's."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from qa import (IndexStore, IndexWriteError, Retriever, SeedUnreadableError, build_index, current_version)

pytestmark = pytest.mark.slow

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
QUESTION = "What is the version code?"
MARKER = re.compile(r"version code is (\d+)")
KILLS = 4  # each costs one `qa index` process start (~8 s here)


@pytest.fixture(scope="module")
def minilm():
    from qa import Embedder

    return Embedder.load(MODEL)


def write_release(seeds: Path, release: int) -> None:
    """One document whose every passage names its release, so a hit shows which build it came from."""
    seeds.mkdir(exist_ok=True)
    paragraphs = [f"Part {part} of release {release}. The version code is {release}. "
                  f"This part describes {topic} for the {release}th time." for part, topic in
                  enumerate(["the river and its bridges", "the market and its prices", "the school and its pupils"])]
    (seeds / "release.txt").write_text(f"Release {release}\n\n" + "\n\n".join(paragraphs) + "\n", encoding="utf-8")


def qa_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "qa", *args]


def index_command(seeds: Path, index: Path, *extra: str) -> list[str]:
    return qa_command("index", "--seeds", str(seeds), "--index", str(index), "--model", MODEL, "--json", *extra)


def markers_of(texts: list[str]) -> set[int]:
    return {int(m) for text in texts for m in MARKER.findall(text)}


def check_version(index: Path, embedder) -> int:
    """Open the index as a reader would; every part of it must come from one build. Returns that build's release."""
    store = IndexStore.load(index)
    try:
        document = store.documents["release.txt"].text
        (release,) = markers_of([document])
        assert markers_of([p.text for p in store.passages]) == {release}
        for passage in store.passages:
            assert document[passage.start:passage.end] == passage.text
        assert store.manifest.counts["passages"] == len(store.passages) == store.passage_index.ntotal
        hits = Retriever(store, embedder).search(QUESTION, k=2)
        assert hits and markers_of([h.text for h in hits]) == {release}
        return release
    finally:
        store.close()


def start_build(seeds: Path, index: Path) -> tuple[subprocess.Popen, float]:
    """A `qa index` process, returned once it has loaded its model and starts embedding (the import before that
    takes most of its life and writes nothing), with the moment it got there."""
    process = subprocess.Popen(index_command(seeds, index), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True)
    while (line := process.stderr.readline()) and not line.startswith("Embedding"):
        pass
    return process, time.perf_counter()


def test_kill_9_at_random_moments_of_embedding_and_writing_leaves_the_old_or_the_new_version(tmp_path, minilm):
    seeds, index = tmp_path / "seeds", tmp_path / "index"
    write_release(seeds, 0)
    process, embedding = start_build(seeds, index)
    while current_version(index) is None and process.poll() is None:
        time.sleep(0.005)
    work = time.perf_counter() - embedding  # embedding, writing and publishing: where a kill can do harm
    assert process.wait(timeout=300) == 0
    published, outcomes, rng = 0, {"old": 0, "new": 0}, random.Random(9)
    for release in range(1, KILLS + 1):
        write_release(seeds, release)
        before = current_version(index)
        process, _ = start_build(seeds, index)
        try:
            process.wait(timeout=rng.uniform(0.0, 1.25) * work)
        except subprocess.TimeoutExpired:
            process.kill()  # SIGKILL: no clean-up of any kind
            process.wait()
        process.stderr.close()
        found = check_version(index, minilm)
        if current_version(index) == before:
            assert found == published
            outcomes["old"] += 1
        else:
            assert found == release
            published = release
            outcomes["new"] += 1
    print(f"{KILLS} kills in the {work:.2f} s from embedding to publishing: {outcomes['old']} left the old version, "
          f"{outcomes['new']} the new one; 0 failures")
    assert outcomes["old"] > 0  # some kills did land before the publish
    write_release(seeds, KILLS + 1)
    build_index(seeds, index, embedder=minilm)
    assert check_version(index, minilm) == KILLS + 1
    assert not list(index.glob(".tmp-*")) and len(list((index / "versions").iterdir())) == 1  # leftovers swept


def test_searches_during_rebuilds_each_come_from_one_version(tmp_path, minilm):
    seeds, index = tmp_path / "seeds", tmp_path / "index"
    write_release(seeds, 0)
    build_index(seeds, index, embedder=minilm)
    stop, errors, seen = threading.Event(), [], {"api": [], "cli": []}

    def api_reader() -> None:
        while not stop.is_set():
            try:
                store = IndexStore.load(index)
                try:
                    result = Retriever(store, minilm).retrieve(QUESTION, k=3)
                    document = store.documents["release.txt"].text
                    assert len(markers_of([h.text for h in result.hits] + [document])) == 1
                    assert all(document[h.citation.start:h.citation.end] == h.text for h in result.hits)
                    seen["api"].append(result.index_version)
                finally:
                    store.close()
                time.sleep(0.02)
            except Exception as error:  # noqa: BLE001 - every failure is collected and reported
                errors.append(f"api: {error!r}")

    def cli_reader() -> None:
        while not stop.is_set():
            run = subprocess.run(qa_command("search", "--seeds", str(seeds), "--index", str(index), "--json",
                                            "-k", "3", QUESTION), capture_output=True, text=True)
            if run.returncode != 0:
                errors.append(f"cli: exit {run.returncode}: {run.stderr[-500:]}")
                continue
            data = json.loads(run.stdout)
            if len(markers_of([h["text"] for h in data["hits"]])) != 1:
                errors.append(f"cli: hits from several builds: {data}")
            seen["cli"].append(data["index_version"])

    readers = [threading.Thread(target=api_reader), threading.Thread(target=cli_reader)]
    for reader in readers:
        reader.start()
    release, deadline = 0, time.monotonic() + 240
    try:  # a writer in this process, readers in a thread and in other processes, until each has read a few times
        while release < 5 or len(set(seen["cli"])) < 2:
            assert time.monotonic() < deadline, f"too few searches: {len(seen['cli'])} CLI, {len(seen['api'])} API"
            release += 1
            write_release(seeds, release)
            build_index(seeds, index, embedder=minilm)
            time.sleep(0.3)
    finally:
        stop.set()
        for reader in readers:
            reader.join(120)
    print(f"{len(seen['api'])} API and {len(seen['cli'])} CLI searches during {release} rebuilds, "
          f"{len(set(seen['api'] + seen['cli']))} versions seen, {len(errors)} errors")
    assert errors == []
    assert len(seen["api"]) >= 20 and len(set(seen["api"])) >= 3 and len(set(seen["cli"])) >= 2
    assert check_version(index, minilm) == release


def test_two_writers_at_once_one_is_refused_cleanly_and_a_waiting_one_finds_the_work_done(tmp_path, minilm):
    seeds, index = tmp_path / "seeds", tmp_path / "index"
    write_release(seeds, 0)
    build_index(seeds, index, embedder=minilm)
    write_release(seeds, 1)
    first = subprocess.Popen(index_command(seeds, index), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             text=True)
    lock_note = index / ".write.lock"
    deadline = time.monotonic() + 60
    while f"process {first.pid} " not in (lock_note.read_text() if lock_note.exists() else ""):
        assert time.monotonic() < deadline and first.poll() is None, "the first writer never took the lock"
        time.sleep(0.05)
    refused = subprocess.run(index_command(seeds, index), capture_output=True, text=True)
    waiting = subprocess.run(index_command(seeds, index, "--wait", "120"), capture_output=True, text=True)
    output, _ = first.communicate(timeout=120)
    assert first.returncode == 0 and json.loads(output)["status"] == "built"
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert f"is being built by process {first.pid}" in refused.stderr and "--wait" in refused.stderr
    assert waiting.returncode == 0 and json.loads(waiting.stdout)["status"] == "up-to-date"
    assert check_version(index, minilm) == 1


def test_an_unreadable_seed_stops_the_build_with_its_name_and_keeps_the_index(tmp_path, minilm, monkeypatch):
    seeds, index = tmp_path / "seeds", tmp_path / "index"
    write_release(seeds, 0)
    build_index(seeds, index, embedder=minilm)
    write_release(seeds, 1)
    real_read = Path.read_bytes

    def denied(path: Path) -> bytes:
        if path.name == "release.txt":
            raise PermissionError(13, "Permission denied", str(path))
        return real_read(path)

    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(SeedUnreadableError, match="release.txt: Permission denied"):
        build_index(seeds, index, embedder=minilm)
    monkeypatch.undo()
    assert check_version(index, minilm) == 0


@pytest.mark.parametrize("failure", ["full disk", "read-only folder"])
def test_write_failures_end_in_a_clear_error_and_the_old_version_is_served(tmp_path, minilm, monkeypatch, failure):
    import errno
    import os

    from qa.store.local import versions

    seeds, index = tmp_path / "seeds", tmp_path / "index"
    write_release(seeds, 0)
    build_index(seeds, index, embedder=minilm)
    write_release(seeds, 1)
    if failure == "full disk":
        def fail(*args, **kwargs):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        monkeypatch.setattr("qa.store.local.store.np.save", fail)
        message = "No space left on device"
    else:
        def fail(*args, **kwargs):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(index / "versions"))
        monkeypatch.setattr(versions.os, "rename", fail)
        message = "Permission denied"
    with pytest.raises(IndexWriteError, match=f"{message}.*previous version.*unchanged"):
        build_index(seeds, index, embedder=minilm)
    monkeypatch.undo()
    assert check_version(index, minilm) == 0
    assert not list(index.glob(".tmp-*"))
