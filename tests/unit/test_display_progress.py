"""What a converge shows while it runs: task lines, failures, and what a play shows its
user (a debug task's message, such as the upgrade plan), in the log and in --json."""

from __future__ import annotations

import json

from homeforge.display import console
from homeforge.display.progress import JsonEvents, LiveProgress, shown_lines

PLAN = [
    "lab-1: v1.31.4+k3s1 -> v1.32.13+k3s1 -> v1.33.14+k3s1 (upgrade)",
    "lab-2: v1.33.14+k3s1 -> v1.33.14+k3s1 (current)",
]


def _ok(action: str, msg, host: str = "lab-1") -> dict:
    return {
        "event": "runner_on_ok",
        "event_data": {
            "host": host,
            "task": "Show the plan",
            "task_action": action,
            "res": {"msg": msg},
        },
    }


def test_a_debug_message_is_shown_one_line_per_entry_and_other_results_are_not():
    assert shown_lines(_ok("ansible.builtin.debug", PLAN)["event_data"]) == PLAN
    assert shown_lines(_ok("debug", "one line")["event_data"]) == ["one line"]
    assert shown_lines(_ok("ansible.legacy.debug", "legacy")["event_data"]) == ["legacy"]
    assert shown_lines(_ok("ansible.builtin.command", "output")["event_data"]) == []
    assert shown_lines(_ok("ansible.builtin.debug", "")["event_data"]) == []


def test_the_log_shows_the_plan_under_its_task():
    progress = LiveProgress("apply upgrade", ["lab-1", "lab-2"])
    with console.capture() as captured:
        progress.on_event(
            {"event": "playbook_on_task_start", "event_data": {"task": "Show the plan"}}
        )
        progress.on_event(_ok("ansible.builtin.debug", PLAN))
        progress.on_event(_ok("ansible.builtin.command", "not shown", host="lab-2"))
        progress.on_event(_ok("ansible.builtin.debug", "wg0: live peers differ", host="lab-2"))
    lines = captured.get().splitlines()
    assert lines[0].endswith("Show the plan")
    # the plan's lines name their hosts (it runs once, on lab-1): shown as they are;
    # a note of one host's own is shown under its host
    assert [line.split("] ", 1)[1] for line in lines[1:]] == [
        *PLAN,
        "lab-2: wg0: live peers differ",
    ]
    assert progress.rows["lab-1"]["ok"] == 1


def test_json_events_carry_the_shown_message(capsys):
    events = JsonEvents()
    events.on_event(_ok("ansible.builtin.debug", PLAN))
    events.on_event(_ok("ansible.builtin.command", "not shown"))
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert out[0]["lines"] == PLAN and "lines" not in out[1] and "msg" not in out[0]
