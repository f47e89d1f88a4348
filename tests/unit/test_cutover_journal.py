"""The cutover journal: kept per inventory in the state directory, refused in one line
when it has the wrong shape, saved through a fresh private temporary file."""

from __future__ import annotations

import json
import re

import pytest


def test_the_journal_belongs_to_the_inventory_not_the_current_directory(tmp_path, monkeypatch):
    from homeforge import cutover

    monkeypatch.delenv("HOMEFORGE_STATE_DIR")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    inv = tmp_path / "inv" / "hosts.yml"
    inv.parent.mkdir()
    inv.write_text("all: {}\n")
    paths_seen = set()
    for cwd in (tmp_path, tmp_path / "inv"):
        monkeypatch.chdir(cwd)
        paths_seen.add(cutover.Journal.path_for("svc", inv))
    (path,) = paths_seen
    assert path.is_relative_to(tmp_path / "xdg" / "homeforge" / "cutover")
    with cutover.exclusive("cutover", "svc", inv):
        monkeypatch.chdir(tmp_path)
        other = tmp_path / "inv" / ".." / "inv" / "hosts.yml"
        with pytest.raises(cutover.Busy), cutover.exclusive("cutover", "svc", other):
            pass


@pytest.mark.parametrize(
    "data, why",
    [
        ([1, 2], "not a mapping"),
        ({"service": "svc"}, "inventory: missing"),
        (
            {
                "service": "s",
                "inventory": "/i",
                "phase": "cut-over",
                "updated": "t",
                "history": [],
                "changes": [{}],
            },
            "changes[0]",
        ),
        (
            {
                "service": "s",
                "inventory": "/i",
                "phase": "weird",
                "updated": "t",
                "history": [],
                "changes": [],
            },
            "unknown phase",
        ),
    ],
)
def test_a_journal_of_the_wrong_shape_is_one_line_not_a_traceback(tmp_path, data, why):
    from homeforge import cutover

    path = cutover.Journal.path_for("svc", tmp_path)
    path.write_text(json.dumps(data))
    with pytest.raises(cutover.BadInput, match=rf"unreadable cutover journal: .*{re.escape(why)}"):
        cutover.Journal.load("svc", tmp_path)


def test_journal_saves_use_a_fresh_private_temporary_file(tmp_path):
    from homeforge import cutover

    journal = cutover.Journal.new("svc", tmp_path)
    stale = journal.path.parent / "svc.tmp"  # the old fixed name, left world-readable
    stale.write_text("x")
    stale.chmod(0o644)
    journal.save()
    assert journal.path.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in journal.path.parent.iterdir()) == ["svc.json", "svc.tmp"]
