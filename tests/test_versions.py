"""Versioned index folders: one atomic pointer, pins that keep a version on disk while read, one writer at a time.
Fast: plain folders, no model."""

from __future__ import annotations

import multiprocessing
import os
import time

import pytest

from qa import IndexBusyError
from qa.store.local import versions

REQUIRED = "manifest.json"


def _publish(root, text: str) -> str:
    staging = versions.new_staging(root)
    (staging / REQUIRED).write_text(text, encoding="utf-8")
    return versions.publish(root, staging)


def test_publish_switches_the_pointer_and_readers_open_only_that_version(tmp_path):
    assert versions.current_version(tmp_path) is None and versions.pin_current(tmp_path, REQUIRED) is None
    first = _publish(tmp_path, "one")
    second = _publish(tmp_path, "two")
    assert first != second and versions.current_version(tmp_path) == second
    pinned = versions.pin_current(tmp_path, REQUIRED)
    assert pinned.version == second and (pinned.path / REQUIRED).read_text(encoding="utf-8") == "two"
    assert not list(tmp_path.glob(".tmp-*")) and not list(tmp_path.glob("CURRENT.*"))
    pinned.release()


def test_sweep_keeps_the_current_and_every_pinned_version_and_removes_the_rest(tmp_path):
    old = _publish(tmp_path, "old")
    pinned = versions.pin_current(tmp_path, REQUIRED)  # a reader still serving the old version
    middle = _publish(tmp_path, "middle")
    current = _publish(tmp_path, "current")
    leftover = versions.new_staging(tmp_path)  # what a writer killed mid-build leaves
    removed = versions.sweep(tmp_path)
    assert middle in removed and leftover.name in removed and old not in removed
    assert sorted(p.name for p in (tmp_path / "versions").iterdir()) == sorted([old, current])
    assert (pinned.path / REQUIRED).read_text(encoding="utf-8") == "old"  # still readable while pinned
    pinned.release()
    assert old in versions.sweep(tmp_path)
    assert [p.name for p in (tmp_path / "versions").iterdir()] == [current]


def test_a_reader_that_loses_the_race_to_a_sweep_reads_the_pointer_again(tmp_path, monkeypatch):
    stale = _publish(tmp_path, "stale")
    fresh = _publish(tmp_path, "fresh")
    versions.sweep(tmp_path)  # removes `stale`, which the reader below "read" from CURRENT just before
    answers = iter([stale, fresh])
    monkeypatch.setattr(versions, "current_version", lambda root: next(answers))
    assert versions.pin_current(tmp_path, REQUIRED).version == fresh


def _hold_lock(root: str, ready, release) -> None:
    with versions.writer_lock(root):
        ready.set()
        release.wait(30)


def test_a_second_writer_is_refused_with_who_holds_the_lock_or_waits_for_it(tmp_path):
    context = multiprocessing.get_context("fork")
    ready, release = context.Event(), context.Event()
    holder = context.Process(target=_hold_lock, args=(str(tmp_path), ready, release))
    holder.start()
    try:
        assert ready.wait(30)
        with pytest.raises(IndexBusyError, match=f"process {holder.pid}.*--wait"):
            with versions.writer_lock(tmp_path):
                pass
        started = time.monotonic()
        with pytest.raises(IndexBusyError):
            with versions.writer_lock(tmp_path, wait=0.5):
                pass
        assert time.monotonic() - started >= 0.5
        context.Process(target=lambda: (time.sleep(0.3), release.set())).start()
        with versions.writer_lock(tmp_path, wait=30):  # granted once the holder lets go
            assert not holder.is_alive() or release.is_set()
    finally:
        release.set()
        holder.join(30)


def test_a_killed_writer_never_blocks_the_next(tmp_path):
    context = multiprocessing.get_context("fork")
    ready, release = context.Event(), context.Event()
    holder = context.Process(target=_hold_lock, args=(str(tmp_path), ready, release))
    holder.start()
    assert ready.wait(30)
    os.kill(holder.pid, 9)
    holder.join(30)
    with versions.writer_lock(tmp_path):  # the kernel dropped the dead process's lock
        pass
