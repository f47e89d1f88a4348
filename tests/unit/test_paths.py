"""homeforge's own directories: private, without changing a directory it shares."""

from __future__ import annotations


def test_a_shared_state_directory_is_not_chmodded(tmp_path, monkeypatch):
    from homeforge import paths

    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    paths.private_dir(shared)
    assert shared.stat().st_mode & 0o7777 == 0o1777
    inside = paths.private_dir(shared / "homeforge")
    assert inside.stat().st_mode & 0o777 == 0o700
