"""How converges look: live progress while a playbook runs, a recap table at the end,
or one JSON object per line with ``--json``."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from homeforge.display import console, emit
from homeforge.runner import ApplyRequest, failure_message

if TYPE_CHECKING:
    from homeforge.converge import ConvergeResult
    from homeforge.fastpath import Probe

HOST_EVENTS = {
    "runner_on_ok": "ok",
    "runner_on_failed": "failed",
    "runner_on_unreachable": "unreachable",
    "runner_on_skipped": "skipped",
}


class LiveProgress:
    """Current task, per-host counts and elapsed time, redrawn as events arrive.

    On a terminal it is a live table; elsewhere (CI logs) it prints one line per
    task and one per failure, so logs stay readable.
    """

    def __init__(self, title: str, hosts: list[str]):
        self.title = title
        self.started = time.monotonic()
        self.task = "starting"
        self.tasks_seen = 0
        self.rows: dict[str, dict[str, Any]] = {
            h: {"state": "waiting", "task": "", "ok": 0, "changed": 0, "failed": 0} for h in hosts
        }
        self.interactive = console.is_terminal
        self.live = (
            Live(self.render(), console=console, refresh_per_second=8, transient=True)
            if self.interactive
            else None
        )

    def __enter__(self) -> LiveProgress:
        if self.live:
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live:
            self.live.__exit__(*exc)

    def elapsed(self) -> str:
        return f"{time.monotonic() - self.started:5.1f}s"

    def render(self) -> Group:
        done = sum(1 for r in self.rows.values() if r["state"] in ("ok", "changed"))
        failed = sum(1 for r in self.rows.values() if r["state"] in ("failed", "unreachable"))
        header = Text.assemble(
            (self.title, "bold"),
            f"  {self.elapsed()}  ",
            (f"task {self.tasks_seen}: {self.task}", "cyan"),
            f"   hosts ok {done}/{len(self.rows)}",
            (f"  failed {failed}" if failed else "", "red"),
        )
        table = Table(box=None, pad_edge=False, show_edge=False)
        for col in ("host", "state", "current task", "ok", "changed", "failed"):
            table.add_column(col, justify="right" if col in ("ok", "changed", "failed") else "left")
        styles = {"failed": "red", "unreachable": "red", "changed": "yellow", "ok": "green"}
        for host, row in self.rows.items():
            table.add_row(
                host,
                Text(row["state"], style=styles.get(row["state"], "")),
                row["task"],
                str(row["ok"]),
                str(row["changed"]),
                str(row["failed"]),
            )
        return Group(header, table)

    def on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("event", "")
        data = event.get("event_data", {})
        if kind == "playbook_on_task_start":
            self.task = data.get("task", "")
            self.tasks_seen += 1
            for row in self.rows.values():
                if row["state"] not in ("failed", "unreachable"):
                    row["task"] = self.task
                    row["state"] = "running"
            if not self.interactive:
                console.print(f"[{self.elapsed()}] {self.task}")
        elif kind in HOST_EVENTS:
            host = data.get("host", "?")
            row = self.rows.setdefault(
                host, {"state": "waiting", "task": "", "ok": 0, "changed": 0, "failed": 0}
            )
            outcome = HOST_EVENTS[kind]
            changed = bool((data.get("res") or {}).get("changed"))
            if outcome == "ok":
                row["ok"] += 1
                row["changed"] += int(changed)
                for line in shown_lines(data):
                    # a line that names its own host (the upgrade plan's) is not prefixed
                    said = line if line.split(": ", 1)[0] in self.rows else f"{host}: {line}"
                    console.print(Text(f"[{self.elapsed()}] {said}"), soft_wrap=True)
            elif outcome in ("failed", "unreachable") and not data.get("ignore_errors"):
                row["failed"] += 1
                row["state"] = outcome
                if not self.interactive:
                    console.print(
                        Text(
                            f"[{self.elapsed()}] {host}: {outcome}: {data.get('task', '')}",
                            style="red",
                        )
                    )
        elif kind == "playbook_on_stats":
            for row in self.rows.values():
                if row["state"] not in ("failed", "unreachable"):
                    row["state"] = "changed" if row["changed"] else "ok"
        if self.live:
            self.live.update(self.render())


DEBUG_ACTIONS = ("ansible.builtin.debug", "ansible.legacy.debug", "debug")


def shown_lines(data: dict[str, Any]) -> list[str]:
    """What a play shows its user (a ``debug`` task's message, such as the upgrade plan):
    one line per entry of a list. Results of ``no_log`` tasks are censored by Ansible
    before they reach the events."""
    if data.get("task_action") not in DEBUG_ACTIONS:
        return []
    msg = (data.get("res") or {}).get("msg")
    if isinstance(msg, list):
        return [str(m) for m in msg if str(m).strip()]
    return [str(msg)] if isinstance(msg, str) and msg.strip() else []


def recap(result: ConvergeResult) -> None:
    """The converge's table of hosts, why hosts ran, failures, warnings and a verdict."""
    table = Table(title="recap", title_justify="left", show_lines=False)
    columns = ("host", "ok", "changed", "failed", "unreachable", "skipped", "rescued", "ignored")
    for col in columns:
        table.add_column(col, justify="left" if col == "host" else "right")
    if result.outcomes:
        table.add_column("outcome", justify="left")
    for host, s in sorted(result.stats.items()):
        style = "red" if not s.healthy else ("yellow" if s.changed else "green")
        row = [Text(host, style=style), *(str(getattr(s, c)) for c in columns[1:])]
        if result.outcomes:
            row.append(result.outcomes.get(host, ""))
        table.add_row(*row)
    console.print(table)
    for host, reason in sorted(result.reasons.items()):
        outcome = result.outcomes.get(host, "converged")
        console.print(Text(f"{host}: {outcome}: {reason}; {ran_roles(result, host)}", style="dim"))
    for failure in result.failures:
        kind = "unreachable" if failure.unreachable else "failed"
        console.print(
            Text(f"{failure.host}: {kind}: {failure.task}: {failure.message}", style="red")
        )
    for item in result.models:
        console.print(Text(item.line(), style="dim" if item.ok else "red"))
    for warning in result.warnings:
        console.print(Text(f"warning: {warning}", style="yellow"))
    verdict = "ok" if result.ok else "FAILED"
    where = f"artifacts {result.artifacts}" if result.artifacts else "no Ansible run needed"
    probed = sum(1 for o in result.outcomes.values() if o == "unchanged (probe)")
    fast = f" · {probed} unchanged (probe)" if probed else ""
    console.print(f"{verdict} in {result.elapsed:.1f}s · changed={result.changed}{fast} · {where}")


def ran_roles(result: ConvergeResult, host: str) -> str:
    """Which roles a converged host ran: only those its drift or its changed roles need
    (and the roles that read what those write), or all of its own."""
    if not result.roles.get(host):
        return "ran no role"
    roles = ", ".join(result.roles[host])
    if host in result.targeted:
        return f"ran only {roles} (what changed, and the roles that read it)"
    return f"ran every role of its own ({roles})"


class JsonEvents:
    """One compact JSON object per line: the events worth reacting to, then a summary."""

    KEEP: ClassVar[set[str]] = {"playbook_on_play_start", "playbook_on_task_start", *HOST_EVENTS}

    def on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("event", "")
        if kind not in self.KEEP:
            return
        data = event.get("event_data", {})
        out: dict[str, Any] = {"event": kind, "counter": event.get("counter")}
        for key in ("play", "task", "host", "task_action"):
            if data.get(key):
                out[key] = data[key]
        if kind in HOST_EVENTS:
            res = data.get("res") or {}
            out["changed"] = bool(res.get("changed"))
            if kind in ("runner_on_failed", "runner_on_unreachable"):
                out["msg"] = failure_message(res)
            elif shown_lines(data):
                out["lines"] = shown_lines(data)
        emit(out)


def summary(result: ConvergeResult) -> dict[str, Any]:
    """The converge as one JSON object, the last line of ``--json`` output."""
    return {
        "summary": {
            "ok": result.ok,
            "status": result.status,
            "elapsed_s": round(result.elapsed, 3),
            "probe_s": round(result.probe_elapsed, 3),
            "changed": result.changed,
            "artifacts": str(result.artifacts) if result.artifacts else None,
            "hosts": {h: vars(s) for h, s in sorted(result.stats.items())},
            "outcomes": dict(sorted(result.outcomes.items())),
            "reasons": dict(sorted(result.reasons.items())),
            "roles": dict(sorted(result.roles.items())),
            "targeted": sorted(result.targeted),
            "failures": [vars(f) for f in result.failures],
            "models": [m.as_dict() for m in result.models],
        }
    }


class ConvergeDisplay:
    """A converge as the terminal shows it (live progress, then the recap) or, with
    ``as_json``, as JSON lines (a probe line per host, the events, then the summary)."""

    def __init__(self, as_json: bool):
        self.as_json = as_json

    def probed(self, host: str, probe: Probe) -> None:
        """One JSON line per host's probe."""
        if self.as_json:
            emit({"event": "probe", "host": host, "outcome": probe.outcome, "detail": probe.detail})

    @contextlib.contextmanager
    def running(
        self, request: ApplyRequest, hosts: list[str], skipped: int
    ) -> Iterator[Callable[[dict[str, Any]], None]]:
        """Around one Ansible run: its events as JSON lines, or live progress."""
        if self.as_json:
            yield JsonEvents().on_event
            return
        mode = " (check mode)" if request.check else ""
        note = f", {skipped} unchanged (probe)" if skipped else ""
        title = f"{request.playbook.name} on {len(hosts)} host(s){mode}{note}"
        with LiveProgress(title, hosts) as shown:
            yield shown.on_event

    def finished(self, result: ConvergeResult) -> None:
        """The summary line, or the recap."""
        if self.as_json:
            emit(summary(result))
        else:
            recap(result)


class PullBars:
    """One progress bar per host while a model is pulled: bytes, rate and ETA, from the
    progress each host's pull writes. Off a terminal, one line per host when its pull
    reaches 25/50/75/100%."""

    def __init__(self, model: str, hosts: list[str]):
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self.model = model
        self.interactive = console.is_terminal
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[status]}"),
            console=console,
            transient=False,
            disable=not self.interactive,
        )
        self.tasks = {
            h: self.progress.add_task(f"{h} {model}", total=None, status="waiting") for h in hosts
        }
        self.quarters: dict[str, int] = dict.fromkeys(hosts, 0)

    def __enter__(self) -> PullBars:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)

    def update(self, host: str, snapshot: dict[str, Any]) -> None:
        total, completed = int(snapshot.get("total") or 0), int(snapshot.get("completed") or 0)
        status = str(snapshot.get("status", ""))[:28]
        self.progress.update(
            self.tasks[host], total=total or None, completed=completed, status=status
        )
        if not self.interactive and total:
            quarter = min(4, completed * 4 // total)
            if quarter > self.quarters[host]:
                self.quarters[host] = quarter
                rate = int(snapshot.get("rate_bps") or 0)
                console.print(
                    f"{host}: {self.model} {quarter * 25}% of {total} bytes"
                    f" ({rate // 1_000_000} MB/s, eta {int(snapshot.get('eta_s') or 0)}s)"
                )
