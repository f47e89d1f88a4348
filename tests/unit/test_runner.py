"""The ansible-runner glue, exercised with real runs on the local connection."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from homeforge import inventory, runner
from homeforge.cli import main

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
    - name: Fail when asked
      ansible.builtin.fail:
        msg: "asked to fail on {{ inventory_hostname }}"
      when: fail_here | default(false) | bool
"""


@pytest.fixture
def local(write, tmp_path):
    inv = write(
        "inv.yml",
        f"""
        all:
          vars:
            ansible_connection: local
            ansible_python_interpreter: {__import__("sys").executable}
            marker: {tmp_path}/marker-{{{{ inventory_hostname }}}}
          hosts:
            one: {{}}
            two: {{}}
    """,
    )
    return inv, write("play.yml", PLAYBOOK)


def test_run_reports_per_host_stats_from_events(local, tmp_path):
    inv_path, playbook = local
    seen = []
    result = runner.run_playbook(
        runner.ApplyRequest(playbook, inventory.load(inv_path)), seen.append
    )
    assert result.ok and result.status == "successful"
    assert {h: (s.changed, s.skipped) for h, s in result.stats.items()} == {
        "one": (1, 1),
        "two": (1, 1),
    }
    assert (tmp_path / "marker-one").read_text() == "hello one\n"
    assert "playbook_on_stats" in {e["event"] for e in seen}
    assert (result.artifacts / "artifacts").is_dir()
    assert oct(result.artifacts.stat().st_mode & 0o777) == "0o700"

    again = runner.run_playbook(runner.ApplyRequest(playbook, inventory.load(inv_path)))
    assert again.ok and again.changed == 0


def test_failures_carry_host_task_and_message(local):
    inv_path, playbook = local
    request = runner.ApplyRequest(
        playbook, inventory.load(inv_path), limit="two", extra_vars=["fail_here=true"]
    )
    result = runner.run_playbook(request)
    assert not result.ok
    assert [(f.host, f.task, f.message) for f in result.failures] == [
        ("two", "Fail when asked", "asked to fail on two")
    ]
    assert set(result.stats) == {"two"}


def test_check_mode_changes_nothing(local, tmp_path):
    inv_path, playbook = local
    result = runner.run_playbook(
        runner.ApplyRequest(playbook, inventory.load(inv_path), check=True)
    )
    assert result.ok and result.changed == 2
    assert not (tmp_path / "marker-one").exists()


def test_env_defaults_are_fast_and_overridable(monkeypatch, isolated_state):
    env = runner.ansible_env(isolated_state, "linear")
    assert env["ANSIBLE_PIPELINING"] == "True"
    assert "ControlPersist" in env["ANSIBLE_SSH_ARGS"]
    assert env["ANSIBLE_GATHERING"] == "smart" and env["ANSIBLE_CACHE_PLUGIN"] == "jsonfile"
    assert "ANSIBLE_STRATEGY" not in env
    assert env["ANSIBLE_HOST_KEY_CHECKING"] == "True"
    monkeypatch.setenv("ANSIBLE_PIPELINING", "False")
    assert runner.ansible_env(isolated_state, "linear")["ANSIBLE_PIPELINING"] == "False"


def test_mitogen_is_used_when_available_and_linear_when_asked(isolated_state):
    env = runner.ansible_env(isolated_state, "auto")
    if runner.mitogen_strategy_dir() is None:
        assert "ANSIBLE_STRATEGY" not in env
    else:
        assert env["ANSIBLE_STRATEGY"] == "homeforge_mitogen"
    assert "ANSIBLE_STRATEGY" not in runner.ansible_env(isolated_state, "linear")


@pytest.mark.parametrize("strategy", ["linear", "auto"])
def test_both_strategies_converge(local, strategy):
    inv_path, playbook = local
    result = runner.run_playbook(
        runner.ApplyRequest(playbook, inventory.load(inv_path), strategy=strategy)
    )
    assert result.ok and result.changed == 2


def test_cli_json_mode_prints_events_and_summary(local):
    inv_path, playbook = local
    out = CliRunner().invoke(main, ["apply", str(playbook), "-i", str(inv_path), "--json"])
    assert out.exit_code == 0, out.output
    lines = [json.loads(line) for line in out.output.splitlines()]
    assert any(e.get("event") == "runner_on_ok" and e.get("changed") for e in lines)
    summary = lines[-1]["summary"]
    assert summary["ok"] and summary["changed"] == 2 and set(summary["hosts"]) == {"one", "two"}


def test_cli_exit_1_and_recap_when_a_host_fails(local):
    inv_path, playbook = local
    out = CliRunner().invoke(
        main, ["apply", str(playbook), "-i", str(inv_path), "-e", "fail_here=true"]
    )
    assert out.exit_code == 1
    assert "one: failed: Fail when asked: asked to fail on one" in out.output
    assert "FAILED" in out.output


def test_environment_secrets_do_not_stay_in_run_artifacts(local, monkeypatch):
    inv_path, playbook = local
    secret = "hf-unit-canary-" + "7f3a9c1e5b"
    monkeypatch.setenv("HF_UNIT_API_TOKEN", secret)
    result = runner.run_playbook(runner.ApplyRequest(playbook, inventory.load(inv_path)))
    assert result.ok
    stored = [p.read_text(errors="replace") for p in result.artifacts.rglob("*") if p.is_file()]
    assert stored and not any(secret in text for text in stored)
    (command,) = list(result.artifacts.glob("artifacts/*/command"))
    recorded = json.loads(command.read_text())
    assert "PATH" in recorded["env"] and recorded["env_dropped"] > 0
    assert all(k == "PATH" or k.startswith("ANSIBLE_") for k in recorded["env"])


def test_extra_var_values_never_reach_the_command_line_or_artifacts(local, tmp_path):
    inv_path, playbook = local
    secret = "hf-extra-canary-" + "91d2e0"
    request = runner.ApplyRequest(
        playbook,
        inventory.load(inv_path),
        extra_vars=[f"api_token={secret}", '{"fail_here": false}', "marker=" + str(tmp_path / "m")],
    )
    result = runner.run_playbook(request)
    assert result.ok
    assert (tmp_path / "m").read_text().startswith("hello ")  # the values reached the play
    stored = [p.read_text(errors="replace") for p in result.artifacts.rglob("*") if p.is_file()]
    assert stored and not any(secret in text for text in stored)
    assert not list(result.artifacts.glob("extravars-*.json"))  # removed after the run


def test_sigterm_mid_run_still_scrubs_the_environment(local, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    inv_path, _playbook = local
    slow = tmp_path / "slow.yml"
    slow.write_text(
        "- hosts: one\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.command: sleep 30\n      changed_when: false\n"
    )
    secret = "hf-term-canary-" + "5e1b77"
    state = tmp_path / "term-state"
    env = {**os.environ, "HF_TERM_TOKEN": secret, "HOMEFORGE_STATE_DIR": str(state)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "homeforge", "apply", str(slow), "-i", str(inv_path)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not list(state.glob("runs/*/artifacts/*/job_events/*.json")):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) != 0
    stored = [p.read_text(errors="replace") for p in state.glob("runs/**/*") if p.is_file()]
    assert stored and not any(secret in text for text in stored)


def test_a_failed_loop_names_each_failed_item_and_its_own_message(write, local):
    """A real ansible-playbook loop: the failure line is the failed items' own messages,
    not Ansible's "One or more items failed"."""
    inv_path, _ = local
    playbook = write(
        "loop.yml",
        """
        - name: Loop play
          hosts: one
          gather_facts: false
          tasks:
            - name: Write each file
              ansible.builtin.command:
                argv: [sh, -c, "test {{ item }} != bad || { echo 'write bad: Permission denied' >&2; exit 1; }"]
              loop: [good, bad]
              changed_when: false
        """,
    )
    result = runner.run_playbook(runner.ApplyRequest(playbook, inventory.load(inv_path)))
    assert [(f.host, f.task, f.message) for f in result.failures] == [
        ("one", "Write each file", "item bad: write bad: Permission denied")
    ]


def test_our_strategy_lists_the_collections_once_and_passes_other_calls_on(monkeypatch):
    """mitogen's planner lists every collection per module call in each forked worker;
    our strategy answers that call from one listing made before the workers fork."""
    pytest.importorskip("ansible_mitogen")
    import importlib.util

    import ansible.collections.list as collection_list

    path = runner.environment.STRATEGY_DIR / f"{runner.environment.STRATEGY}.py"
    spec = importlib.util.spec_from_file_location("homeforge_strategy_under_test", path)
    plugin = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plugin)
    calls = []

    def listing(*args, **kwargs):
        calls.append((args, kwargs))
        return iter([b"/c/a/b", b"/c/x/y"])

    monkeypatch.setattr(collection_list, "list_collection_dirs", listing)
    plugin.list_once()
    plugin.list_once()  # a second play of the same run lists nothing again
    assert calls == [((), {})]
    for _ in range(3):
        assert list(collection_list.list_collection_dirs()) == [b"/c/a/b", b"/c/x/y"]
    assert calls == [((), {})]
    assert list(collection_list.list_collection_dirs(search_paths=["/p"])) == [b"/c/a/b", b"/c/x/y"]
    assert calls[-1] == ((), {"search_paths": ["/p"]})
