"""Atomic, durable writes (`pde_data.files`): the new contents reach the disk before their name does.

A power loss cannot be simulated in a test; what can be checked is the order of the system calls
that make a write survive one: `fsync` of the new file (or of every file and directory of a new
directory) before the rename that publishes it, `fsync` of the directory holding the name after.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pde_data.files import atomic_directory, atomic_file, publish_directory, write_text_atomic


@pytest.fixture
def syscalls(monkeypatch):
    """The fsync and rename calls made, in order: ("fsync", path) and ("rename", source, target)."""
    calls: list[tuple] = []
    fsync, replace, rename = os.fsync, os.replace, os.rename

    def recorded_fsync(fd: int) -> None:
        calls.append(("fsync", Path(os.readlink(f"/proc/self/fd/{fd}"))))
        fsync(fd)

    def recorded(real):
        def move(source, target) -> None:
            calls.append(("rename", Path(source), Path(target)))
            real(source, target)
        return move

    monkeypatch.setattr(os, "fsync", recorded_fsync)
    monkeypatch.setattr(os, "replace", recorded(replace))
    monkeypatch.setattr(os, "rename", recorded(rename))
    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc/self/fd to name the synced files")
    return calls


def _publishing(calls: list[tuple], target: Path) -> int:
    """The index of the rename that publishes `target`."""
    return next(i for i, c in enumerate(calls) if c[0] == "rename" and c[2] == target)


def test_a_file_is_synced_before_its_rename_and_its_directory_after(tmp_path, syscalls):
    target = tmp_path / "summary.json"
    write_text_atomic(target, '{"loss": 1.0}')
    assert target.read_text() == '{"loss": 1.0}'
    published = _publishing(syscalls, target)
    staged = syscalls[published][1]
    assert staged.parent == tmp_path and staged.name.startswith(".summary.tmp-")
    assert ("fsync", staged) in syscalls[:published]
    assert ("fsync", tmp_path) in syscalls[published + 1:]


def test_every_file_and_directory_of_a_new_directory_is_synced_before_its_rename(tmp_path, syscalls):
    target = tmp_path / "checkpoint"
    with atomic_directory(target) as staging:
        (staging / "model.safetensors").write_bytes(b"weights")
        (staging / "shards").mkdir()
        (staging / "shards" / "0.bin").write_bytes(b"shard")
    published = _publishing(syscalls, target)
    staging = syscalls[published][1]
    synced_before = {c[1] for c in syscalls[:published] if c[0] == "fsync"}
    assert {staging, staging / "model.safetensors", staging / "shards", staging / "shards" / "0.bin"} <= synced_before
    assert ("fsync", tmp_path) in syscalls[published + 1:]
    assert (target / "shards" / "0.bin").read_bytes() == b"shard"


def test_replacing_a_directory_syncs_the_new_one_and_the_parent(tmp_path, syscalls):
    target = tmp_path / "step_00000004"
    target.mkdir()
    (target / "old.txt").write_text("old")
    staging = tmp_path / ".tmp-step_00000004"
    staging.mkdir()
    (staging / "trainer_state.json").write_text("{}")
    publish_directory(staging, target)
    published = _publishing(syscalls, target)
    assert ("fsync", staging / "trainer_state.json") in syscalls[:published]
    assert ("fsync", tmp_path) in syscalls[published + 1:]
    assert sorted(p.name for p in target.iterdir()) == ["trainer_state.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step_00000004"]  # the old one is gone


def test_an_error_while_writing_a_file_keeps_the_old_file_and_leaves_no_temporary(tmp_path, syscalls):
    target = tmp_path / "metrics.csv"
    target.write_text("step,loss\n1,0.5\n")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_file(target) as tmp:
            tmp.write_text("step,loss\n")
            raise RuntimeError("disk full")
    assert target.read_text() == "step,loss\n1,0.5\n"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.csv"]
    assert not [c for c in syscalls if c[0] == "rename"]


def test_an_error_while_writing_a_directory_keeps_the_old_one_and_leaves_no_staging(tmp_path):
    target = tmp_path / "final"
    with atomic_directory(target) as staging:
        (staging / "model.safetensors").write_bytes(b"good")
    with pytest.raises(KeyboardInterrupt):
        with atomic_directory(target) as staging:
            (staging / "model.safetensors").write_bytes(b"half")
            raise KeyboardInterrupt
    assert (target / "model.safetensors").read_bytes() == b"good"
    assert [p.name for p in tmp_path.iterdir()] == ["final"]


def test_a_failed_fsync_fails_the_write_and_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "config.json"
    target.write_text("old")

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space left"):
        write_text_atomic(target, "new")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["config.json"]
