"""What a run yields, read from ansible-runner's events (never from its stdout):
failures, warnings and the final stats."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from homeforge.runner.model import Failure, HostStats

# The per host counts of Ansible's final stats event, and the HostStats field of each.
STAT_KEYS = ("ok", "changed", "failures", "dark", "skipped", "rescued", "ignored")
_STAT_FIELDS = {"failures": "failed", "dark": "unreachable"}


def failure_message(res: dict[str, Any]) -> str:
    """The line that says why a task failed: the last line of its message, or a fixed
    text when the task hides its output (``no_log``)."""
    if res.get("_ansible_no_log") or res.get("censored"):
        return "output hidden (no_log)"
    items = [r for r in res.get("results") or [] if isinstance(r, dict) and r.get("failed")]
    if items:  # a loop: "One or more items failed" says nothing; each failed item's own line
        return "; ".join(f"item {_item_label(r)}: {failure_message(r)}" for r in items[:3]) + (
            f"; and {len(items) - 3} more" if len(items) > 3 else ""
        )
    msg = res.get("msg") or ""
    if msg in ("", "non-zero return code", "MODULE FAILURE"):  # the command's own words
        msg = res.get("stderr") or res.get("module_stderr") or msg or res.get("reason") or ""
    if isinstance(msg, list):
        msg = "; ".join(map(str, msg))
    lines = [ln for ln in str(msg).strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "failed"


def _item_label(result: dict[str, Any]) -> str:
    """A loop item as the task's loop_control label shows it, else the item itself (one line)."""
    label = result.get("_ansible_item_label", result.get("item", "?"))
    text = label if isinstance(label, str) else repr(label)
    return " ".join(text.split())[:120]


class EventCollector:
    """Failures, warnings and the final stats from runner's events; each event is passed on
    to ``on_event``. ``on_start`` runs once, at the first event (runner has written its
    files by then)."""

    def __init__(
        self,
        on_event: Callable[[dict[str, Any]], None] | None,
        on_start: Callable[[], None] | None = None,
    ):
        self.on_event = on_event
        self.on_start = on_start
        self.failures: list[Failure] = []
        self.warnings: list[str] = []
        self.stats: dict[str, Any] = {}

    def handle(self, event: dict[str, Any]) -> bool:
        """runner's ``event_handler``: record the event, pass it on, keep it (True)."""
        if self.on_start:
            self.on_start, start = None, self.on_start
            start()
        kind = event.get("event", "")
        data = event.get("event_data", {})
        if kind in ("runner_on_failed", "runner_on_unreachable") and not data.get("ignore_errors"):
            self.failures.append(
                Failure(
                    data.get("host", "?"),
                    data.get("task", "?"),
                    failure_message(data.get("res", {})),
                    unreachable=kind == "runner_on_unreachable",
                )
            )
        elif kind == "warning":
            text = data.get("warning")  # runner sets it to True on some events: use stdout
            if not isinstance(text, str) or not text.strip():
                text = str(event.get("stdout", ""))
            self.warnings.append(text.replace("[WARNING]:", "").strip())
        elif kind == "playbook_on_stats":
            self.stats.update(data)
        if self.on_event:
            self.on_event(event)
        return True

    def host_stats(self, hosts: list[str]) -> dict[str, HostStats]:
        """Per host counts from the final stats; every one of ``hosts`` has an entry
        (empty when the run never reached it)."""
        stats: dict[str, HostStats] = {host: HostStats() for host in hosts}
        for key in STAT_KEYS:
            for host, count in (self.stats.get(key) or {}).items():
                entry = stats.setdefault(host, HostStats())
                setattr(entry, _STAT_FIELDS.get(key, key), count)
        return stats
