"""One ansible-playbook run through ansible-runner's ``run_async``."""

from __future__ import annotations

import shlex
import threading
import time
from collections.abc import Callable
from typing import Any

from homeforge import paths, vault
from homeforge.runner.artifacts import new_run_dir, redact_command_artifacts
from homeforge.runner.environment import ansible_env, prefer_our_ansible
from homeforge.runner.events import EventCollector
from homeforge.runner.extravars import check_extra_vars, extra_vars_args, remove_extra_vars
from homeforge.runner.model import ApplyRequest, RunResult
from homeforge.runner.termination import terminate_as_exit

# Every run's inventory has passed homeforge's checks (the CLI checks it first): with
# this set, the check play that site, upgrade and reset import (playbooks/check.yml)
# skips its one task: a run costs nothing more, and the fast path sees no effect of it.
CHECKED_ENV = {"HOMEFORGE_CHECKED": "1"}


def fact_cache_dir():
    """Where runs keep what they learn of each host (Ansible's jsonfile cache, one file per
    inventory host, ``smart`` gathering: a host with a file is not gathered again)."""
    return paths.state_dir() / "facts"


def forget_facts(hosts: list[str]) -> list[str]:
    """Drop the cached facts of ``hosts`` so the next run gathers them anew (a host whose
    kernel, distribution, addresses or name changed); the hosts that had some."""
    forgotten = []
    for host in hosts:
        cached = fact_cache_dir() / host
        if cached.is_file():
            cached.unlink()
            forgotten.append(host)
    return forgotten


def run_playbook(
    request: ApplyRequest,
    on_event: Callable[[dict[str, Any]], None] | None = None,
    cancelled: threading.Event | None = None,
) -> RunResult:
    """Run ``request`` once and wait for it. Every event is passed to ``on_event``; setting
    ``cancelled`` stops the run. Raises :class:`~homeforge.errors.BadInput` for bad extra
    variables before anything runs."""
    import ansible_runner

    prefer_our_ansible()
    request.inventory.require_vault()
    state = paths.state_dir()
    run_dir = new_run_dir(state)
    hosts = request.inventory.select(request.limit)
    forks = request.forks or min(50, max(5, len(hosts)))
    check_extra_vars(request.extra_vars)
    cmdline = extra_vars_args(request.extra_vars, run_dir)
    if request.check:
        cmdline.append("--check")
    if request.diff:
        cmdline.append("--diff")

    events = EventCollector(on_event, lambda: redact_command_artifacts(run_dir))
    started = time.monotonic()
    # The vault password file lives beside the runs, never in one (runner's artifacts).
    with terminate_as_exit(), vault.run_options(request.inventory.vault, state) as (args, env):
        cmdline += args
        try:
            thread, job = ansible_runner.run_async(
                private_data_dir=str(run_dir),
                project_dir=str(request.playbook.parent),
                playbook=request.playbook.name,
                inventory=str(request.inventory.path),
                limit=request.limit,
                tags=request.tags,
                skip_tags=request.skip_tags,
                forks=forks,
                verbosity=request.verbosity or None,
                cmdline=shlex.join(cmdline) if cmdline else None,
                envvars={**ansible_env(state, request.strategy), **env, **CHECKED_ENV},
                # An absolute path: runner would otherwise keep facts per run, defeating the cache.
                fact_cache=str(fact_cache_dir()),
                event_handler=events.handle,
                cancel_callback=(lambda: cancelled.is_set()) if cancelled else None,
                quiet=True,
                suppress_env_files=True,
                settings={"suppress_ansible_output": True},
            )
            thread.join()
        finally:
            redact_command_artifacts(run_dir)
            remove_extra_vars(run_dir)
    elapsed = time.monotonic() - started

    return RunResult(
        status=job.status,
        rc=job.rc if job.rc is not None else -1,
        elapsed=elapsed,
        artifacts=run_dir,
        stats=events.host_stats(hosts),
        failures=events.failures,
        warnings=sorted(set(w for w in events.warnings if w)),
        completed=bool(events.stats),
    )
