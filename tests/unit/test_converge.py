"""The converge loop as one library call: one result, shown only through the view given."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import pytest

from homeforge import converge as converging
from homeforge import inventory, runner
from homeforge.converge import ConvergeResult, converge
from tests.unit.test_architecture import import_graph

PLAYBOOK = """
- name: Local play
  hosts: all
  gather_facts: false
  tasks:
    - name: Write a marker
      ansible.builtin.copy:
        dest: "{{ marker }}"
        content: "hello {{ inventory_hostname }}\\n"
        mode: "0600"
"""


@pytest.fixture
def local(write, tmp_path, isolated_state):
    inv = write(
        "inv.yml",
        f"""
        all:
          vars:
            ansible_connection: local
            ansible_python_interpreter: {sys.executable}
            marker: {tmp_path}/marker-{{{{ inventory_hostname }}}}
          hosts:
            one: {{}}
            two: {{}}
    """,
    )
    return runner.ApplyRequest(write("play.yml", PLAYBOOK), inventory.load(inv))


class RecordingView:
    def __init__(self):
        self.probes: list[tuple[str, str]] = []
        self.runs: list[tuple[list[str], int]] = []
        self.events: list[str] = []

    def probed(self, host, probe):
        self.probes.append((host, probe.outcome))

    @contextlib.contextmanager
    def running(self, request, hosts, skipped):
        self.runs.append((list(hosts), skipped))
        yield lambda event: self.events.append(event.get("event", ""))


def test_converge_returns_one_result_and_prints_nothing_itself(local, tmp_path, capsys):
    result = converge(local)
    assert result.ok and result.run is not None and result.changed == 2
    assert result.outcomes == {"one": "converged", "two": "converged"}
    assert set(result.reasons) == {"one", "two"}
    assert result.artifacts == result.run.artifacts and result.artifacts.is_dir()
    assert (tmp_path / "marker-one").read_text() == "hello one\n"
    assert capsys.readouterr().out == ""


def test_the_view_sees_every_probe_then_each_run_and_its_events(local):
    view = RecordingView()
    result = converge(local, view=view)
    assert [host for host, _ in view.probes] == ["one", "two"]
    assert view.runs == [(["one", "two"], 0)]
    assert "playbook_on_stats" in view.events and result.ok


def test_check_mode_reports_checked_not_converged(local, tmp_path):
    local.check = True
    result = converge(local)
    assert result.outcomes == {"one": "checked", "two": "checked"}
    assert not (tmp_path / "marker-one").exists()


def test_a_converge_without_a_run_is_successful_and_timed_by_its_probes():
    result = ConvergeResult(None, 0.25, {"h": runner.HostStats()}, {"h": "unchanged (probe)"})
    assert (result.status, result.rc, result.artifacts, result.failures) == (
        "successful",
        0,
        None,
        [],
    )
    assert result.ok and result.changed == 0 and result.elapsed == 0.25


def test_stamp_warnings_follow_the_runs_warnings_and_a_failed_host_fails_the_result():
    stats = {"a": runner.HostStats(ok=2, changed=1), "b": runner.HostStats(failed=1)}
    run = runner.RunResult("failed", 2, 3.0, Path("/runs/x"), dict(stats), warnings=["w1"])
    result = ConvergeResult(run, 0.5, dict(stats), stamp_warnings=["a: no stamp written (x)"])
    assert result.warnings == ["w1", "a: no stamp written (x)"]
    assert run.warnings == ["w1"]  # the run's own warnings are left as Ansible gave them
    assert not result.ok and result.changed == 1 and result.elapsed == 3.0


def test_two_rounds_merge_into_one_run_that_keeps_the_first_failure():
    failure = runner.Failure("a", "task", "boom")
    first = runner.RunResult(
        "failed", 2, 1.0, Path("/runs/1"), {"a": runner.HostStats(failed=1)}, [failure], ["w"]
    )
    second = runner.RunResult("successful", 0, 2.0, Path("/runs/2"), {"b": runner.HostStats()})
    merged = converging._merged(first, second)
    assert (merged.status, merged.rc, merged.elapsed) == ("failed", 2, 3.0)
    assert set(merged.stats) == {"a", "b"} and merged.failures == [failure]
    assert merged.warnings == ["w"]


def test_the_converge_and_runner_libraries_never_reach_the_cli_or_the_display():
    graph = import_graph()
    seen, todo = set(), ["homeforge.converge", "homeforge.runner"]
    while todo:
        for dep in graph.get(todo.pop(), ()):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    assert "homeforge.fastpath" in seen
    assert sorted(d for d in seen if d.startswith(("homeforge.cli", "homeforge.display"))) == []


def test_kept_facts_that_move_in_a_targeted_round_run_that_whole_round_again():
    """WireGuard's address moving on one host (a targeted round ran only the mesh play)
    may change what roles of the other hosts of the round read across hosts: all of
    them run again, whole; when nothing moved, none."""
    before = {"nfs": {"wireguard_facts": {"address": "10.77.0.1"}}, "gpu": {}}
    after = {"nfs": {"wireguard_facts": {"address": "10.77.0.9"}}, "gpu": {}}
    assert converging._facts_moved(["nfs", "gpu"], before, after) == ["nfs", "gpu"]
    assert converging._facts_moved(["nfs", "gpu"], before, dict(before)) == []
    assert converging._facts_moved(["nfs", "gpu"], {}, {}) == []
