"""``homeforge models pull | rm``: one model present or absent on Ollama hosts.

The work is the ``ollama_model`` module's, run by ``playbooks/models.yml`` through the
runner like any converge (idempotent: a model already there is not pulled again). While a
pull runs, each host's progress is read from the file the module writes
(:func:`homeforge.remote.modelops.pull_progress`, once a second, all hosts in parallel)
and handed to ``on_progress``; afterwards each host's Ollama is asked for the model, so
the result shows the digest Ollama lists, not what the run believed.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from homeforge import paths, runner
from homeforge.errors import BadInput
from homeforge.inventory.model import Inventory
from homeforge.module_utils import load as load_module_utils
from homeforge.remote import Remote, RemoteError, fan_out, modelops

POLL_S = 1.0


def progress_path(name: str) -> str:
    """Where the module writes a pull's progress (as roles/ollama/tasks/models.yml names it)."""
    return "/run/homeforge-ollama-pull-" + re.sub(r"[^A-Za-z0-9._-]", "_", name) + ".json"


@dataclass
class HostOutcome:
    host: str
    state: str  # present | absent | failed
    digest: str = ""
    size: int = 0
    error: str = ""


@dataclass
class ModelRun:
    model: str
    wanted: str  # present | absent
    outcomes: list[HostOutcome] = field(default_factory=list)
    run: runner.RunResult | None = None

    @property
    def ok(self) -> bool:
        return bool(self.run and self.run.ok) and all(o.state == self.wanted for o in self.outcomes)


def _checked_name(name: str) -> str:
    ollama = load_module_utils("ollama")
    try:
        return ollama.short_name(name)
    except ollama.ModelNameError as exc:
        raise BadInput(str(exc)) from None


def _poll(inv: Inventory, hosts: list[str], path: str, on_progress, stop: threading.Event) -> None:
    with Remote(inv) as remote:
        while not stop.wait(POLL_S):
            replies = fan_out(lambda h: remote.call(h, modelops.pull_progress, path=path), hosts)
            for host, reply in replies.items():
                if isinstance(reply, dict) and reply:
                    on_progress(host, reply)


def run(
    inv: Inventory,
    name: str,
    wanted: str,
    hosts: list[str],
    on_progress: Callable[[str, dict], None] | None = None,
    on_event: Callable[[dict], None] | None = None,
) -> ModelRun:
    """Make model ``name`` ``wanted`` (present/absent) on ``hosts``; per-host outcomes."""
    short = _checked_name(name)
    path = progress_path(name)
    runner.require_reachable(inv, hosts)
    with Remote(inv) as remote:  # no stale progress from an earlier pull
        fan_out(lambda h: remote.call(h, modelops.pull_progress, path=path, reset=True), hosts)
    request = runner.ApplyRequest(
        paths.resolve_playbook("models"),
        inv,
        limit=",".join(hosts),
        extra_vars=[json.dumps({"homeforge_model": name, "homeforge_model_state": wanted})],
    )
    stop = threading.Event()
    poller = None
    if on_progress is not None and wanted == "present":
        poller = threading.Thread(
            target=_poll, args=(inv, hosts, path, on_progress, stop), daemon=True
        )
        poller.start()
    try:
        result = runner.run_playbook(request, on_event)
    finally:
        stop.set()
        if poller is not None:
            poller.join(timeout=10)
    failed = {f.host: f.message for f in result.failures}
    outcome = ModelRun(short, wanted, run=result)
    ollama = load_module_utils("ollama")
    with Remote(inv) as remote:
        listed = fan_out(lambda h: remote.call(h, modelops.ollama_tags), hosts)
    for host in hosts:
        reply = listed[host]
        if host in failed or isinstance(reply, BaseException):
            error = failed.get(host) or str(reply)
            outcome.outcomes.append(HostOutcome(host, "failed", error=error))
            continue
        entry = ollama.find(reply["models"], short)
        if entry is None:
            outcome.outcomes.append(HostOutcome(host, "absent"))
        else:
            outcome.outcomes.append(
                HostOutcome(host, "present", entry.get("digest", ""), int(entry.get("size") or 0))
            )
    with contextlib.suppress(RemoteError), Remote(inv) as remote:
        fan_out(lambda h: remote.call(h, modelops.pull_progress, path=path, reset=True), hosts)
    return outcome
