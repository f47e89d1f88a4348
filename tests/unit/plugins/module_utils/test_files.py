"""The atomic write (module_utils/files.py): 0600 by default, all-or-nothing replacement."""

from __future__ import annotations

import os
import threading

import pytest
from ansible_collections.homeforge.homelab.plugins.module_utils import files


def mode(path):
    return oct(path.stat().st_mode & 0o777)


def test_new_file_is_0600_and_root_owned(tmp_path):
    target = tmp_path / "wg0.key"
    files.atomic_write(str(target), "secret\n")
    assert target.read_text() == "secret\n" and mode(target) == "0o600"
    if os.geteuid() == 0:
        assert (target.stat().st_uid, target.stat().st_gid) == (0, 0)
    assert os.listdir(tmp_path) == ["wg0.key"]  # no temporary left behind


def test_replaces_a_readable_file_with_a_private_one(tmp_path):
    target = tmp_path / "wg0.key"
    target.write_text("old\n")
    target.chmod(0o644)
    files.atomic_write(str(target), b"new\n")
    assert target.read_text() == "new\n" and mode(target) == "0o600"


def test_other_modes_on_request(tmp_path):
    target = tmp_path / "90-homeforge.conf"
    files.atomic_write(str(target), "a=1\n", mode=0o644)
    assert mode(target) == "0o644"


def test_replacement_is_a_rename_not_an_overwrite(tmp_path):
    target = tmp_path / "key"
    files.atomic_write(str(target), "old\n")
    before = target.stat().st_ino
    with open(target) as reader:  # a reader that opened the old file keeps the old content
        files.atomic_write(str(target), "new\n")
        assert reader.read() == "old\n"
    assert target.stat().st_ino != before and target.read_text() == "new\n"


def test_concurrent_readers_see_old_or_new_never_a_part(tmp_path):
    target = tmp_path / "key"
    contents = ["A" * 200_000, "B" * 200_000]
    files.atomic_write(str(target), contents[0])
    seen, done = set(), threading.Event()

    def read():
        while not done.is_set():
            seen.add(target.read_text())

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(100):
            files.atomic_write(str(target), contents[i % 2])
    finally:
        done.set()
        reader.join()
    assert seen <= set(contents)


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "key"
    files.atomic_write(str(target), "old\n")

    def broken_fsync(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(files.os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="Input/output error"):
        files.atomic_write(str(target), "new\n")
    assert target.read_text() == "old\n" and os.listdir(tmp_path) == ["key"]


def test_private_directory(tmp_path):
    path = tmp_path / "a" / "b"
    assert files.make_private_directory(str(path))
    assert mode(path) == "0o700"
    assert not files.make_private_directory(str(path))
