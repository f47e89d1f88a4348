"""The check play (playbooks/check.yml) that site, upgrade and reset import, as the fast path
sees it: its plays count as their own (no host gets every role's content in its digest),
and under the CLI, which checks the inventory first, it is skipped and watches nothing."""

from __future__ import annotations

import sys

from homeforge import inventory, paths, runner
from homeforge.fastpath import inputs
from homeforge.fastpath.watch import WatchList


def test_an_imported_playbook_counts_with_its_own_plays(tmp_path):
    for name in ("site", "upgrade", "reset"):
        found = inputs.plays(paths.resolve_playbook(name))
        assert found[0] == ("all", {"inventory_check"}), name  # check.yml: no role
        assert not any("*" in roles for _, roles in found), name
    assert inputs.plays(paths.resolve_playbook("site"))[1] == ("all", {"common"})
    # one that cannot be followed still counts as every role for every host
    loop = tmp_path / "loop.yml"
    loop.write_text("- ansible.builtin.import_playbook: loop.yml\n")
    assert inputs.plays(loop) == [("all", {"*"})]
    missing = tmp_path / "missing.yml"
    missing.write_text("- import_playbook: nowhere.yml\n- hosts: all\n  tasks: []\n")
    assert inputs.plays(missing) == [("all", {"*"}), ("all", set())]


def test_under_the_cli_the_check_play_is_skipped_and_watches_nothing(write):
    # not checked here, as the CLI checks before every run: the play alone would refuse it
    path = write(
        "hosts.yml",
        f"""
        all:
          vars:
            ansible_connection: local
            ansible_python_interpreter: {sys.executable}
          hosts:
            one: {{ansible_host: 127.0.0.1, wireguard_interface: "wg0; reboot"}}
            two: {{ansible_host: 127.0.0.2}}
        """,
    )
    inv = inventory.load(path)
    watch = WatchList(inv)
    events = []
    request = runner.ApplyRequest(paths.resolve_playbook("check"), inv)
    result = runner.run_playbook(request, lambda e: (events.append(e), watch.add_event(e)))
    assert result.ok and result.completed, result.failures
    assert result.stats["one"].skipped == 1 and result.changed == 0
    results = [e["event"] for e in events if e["event"].startswith("runner_on_")]
    assert [r for r in results if r != "runner_on_start"] == ["runner_on_skipped"]
    for host in ("one", "two"):
        assert watch.host(host).eligible and watch.host(host).ordered() == []
