"""An edit made while a run goes on is not stamped as converged: the stamp compares each
file the run wrote with what the run's last task on it reported (content SHA-1, mode,
owner, removal), read from a real run's events."""

from __future__ import annotations

import hashlib
import os
import sys

import pytest

from homeforge import inventory, runner
from homeforge.fastpath.watch import WatchList
from homeforge.remote import stampops
from homeforge.remote.prelude import OpError

PLAYBOOK = """
- hosts: all
  gather_facts: false
  tasks:
    - name: A file with content
      ansible.builtin.copy:
        dest: "{{ base }}/app.conf"
        content: "port = 1\\n"
        mode: "0640"
    - name: A file edited in place after it was written (no checksum in the result)
      ansible.builtin.copy:
        dest: "{{ base }}/edited.conf"
        content: "a = 1\\n"
        mode: "0600"
    - name: The in-place edit
      ansible.builtin.lineinfile:
        path: "{{ base }}/edited.conf"
        line: "b = 2"
    - name: A file the run removes
      ansible.builtin.file:
        path: "{{ base }}/old.conf"
        state: absent
"""


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    """One real run on this machine (the state directory its own); its watch list for
    host one."""
    base = tmp_path_factory.mktemp("run-edits")
    out = base / "out"
    out.mkdir()
    (out / "old.conf").write_text("stale\n")
    inv = base / "inv.yml"
    inv.write_text(
        "all:\n  vars:\n    ansible_connection: local\n"
        f"    ansible_python_interpreter: {sys.executable}\n    base: {out}\n"
        "  hosts:\n    one: {}\n"
    )
    (base / "play.yml").write_text(PLAYBOOK)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOMEFORGE_STATE_DIR", str(base / "state"))
        watch = WatchList(inventory.load(inv))
        result = runner.run_playbook(
            runner.ApplyRequest(base / "play.yml", inventory.load(inv)), watch.add_event
        )
    assert result.ok and result.completed
    return out, [{"kind": "host"}, *watch.host("one").ordered()]


@pytest.fixture
def run(ran, tmp_path, monkeypatch):
    """The run's files as it left them (a test's edit is undone), stamps of the test's own."""
    out, items = ran
    monkeypatch.setattr(stampops, "STAMP_DIR", str(tmp_path / "stamps"))
    for name, content, mode in (
        ("app.conf", "port = 1\n", 0o640),
        ("edited.conf", "a = 1\nb = 2\n", 0o600),
    ):
        (out / name).write_text(content)
        (out / name).chmod(mode)
    (out / "old.conf").unlink(missing_ok=True)
    return out, items


def _item(items, path):
    (found,) = [i for i in items if i.get("path") == str(path)]
    return found


def test_the_watch_list_keeps_what_each_file_task_reported(run):
    out, items = run
    app = _item(items, out / "app.conf")
    assert app["want_sha1"] == hashlib.sha1(b"port = 1\n").hexdigest()
    assert (app["want_mode"], app["want_uid"], app["want_gid"]) == (
        "0640",
        os.getuid(),
        os.getgid(),
    )
    edited = _item(items, out / "edited.conf")
    assert "want_sha1" not in edited and edited["want_mode"] == "0600"  # lineinfile: no checksum
    assert _item(items, out / "old.conf") == {
        "kind": "file",
        "path": str(out / "old.conf"),
        "want_absent": True,
    }
    # right after the run the host is as the run left it: the stamp is written
    assert stampops.stamp_write("site", {"homeforge": "a"}, items)["eligible"]


@pytest.mark.parametrize(
    ("edit", "why"),
    [
        (lambda o: (o / "app.conf").write_text("port = 2\n"), "app.conf: other content than"),
        (lambda o: (o / "app.conf").chmod(0o644), "app.conf: mode 0644, the run left 0640"),
        (lambda o: (o / "app.conf").unlink(), "app.conf: gone, the run wrote it"),
        (lambda o: (o / "edited.conf").chmod(0o666), "edited.conf: mode 0666, the run left"),
        (lambda o: (o / "old.conf").write_text("back\n"), "old.conf: there, the run removed it"),
    ],
    ids=["content", "mode", "removed", "edited file's mode", "removed file back"],
)
def test_an_edit_after_the_task_refuses_the_stamp(run, edit, why):
    out, items = run
    edit(out)
    with pytest.raises(OpError) as refused:
        stampops.stamp_write("site", {"homeforge": "a"}, items)
    assert why in str(refused.value) and str(refused.value).endswith("(changed during the run)")
    assert stampops.stamp_check("site", {"homeforge": "a"})["outcome"] == "never"


def test_an_in_place_edit_the_run_made_is_not_mistaken_for_one_after_it(run):
    """The lineinfile result has no checksum: content the run edited in place is not
    compared with the copy task's earlier report (that would refuse every such run)."""
    out, items = run
    assert (out / "edited.conf").read_text() == "a = 1\nb = 2\n"
    assert stampops.stamp_write("site", {"homeforge": "a"}, items)["eligible"]
