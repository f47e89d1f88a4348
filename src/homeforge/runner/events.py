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
    msg = res.get("msg") or res.get("stderr") or res.get("reason") or res.get("module_stderr") or ""
    if isinstance(msg, list):
        msg = "; ".join(map(str, msg))
    lines = [ln for ln in str(msg).strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "failed"


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
