"""``homeforge apply PLAYBOOK``: converge hosts."""

from __future__ import annotations

import dataclasses
import json
import threading

import click

from homeforge import display, paths, runner
from homeforge.cli.common import (
    checked_inventory,
    finish,
    handle_errors,
    inventory_option,
    limit_option,
)
from homeforge.display import progress
from homeforge.fastpath import CONVERGED, UNCHANGED, FastPath
from homeforge.fastpath.watch import WatchList
from homeforge.remote import Remote
from homeforge.wireguard import live


@click.command()
@click.argument("playbook")
@inventory_option
@limit_option
@click.option("-t", "--tags", help="Only tasks with these tags (comma-separated).")
@click.option("--skip-tags", help="Skip tasks with these tags.")
@click.option("-C", "--check", is_flag=True, help="Change nothing; report what would change.")
@click.option("-D", "--diff", is_flag=True, help="Show the differences in changed files.")
@click.option(
    "-e",
    "--extra-vars",
    multiple=True,
    metavar="KEY=VALUE|@FILE",
    help="Extra variables (repeatable).",
)
@click.option(
    "-f",
    "--forks",
    type=click.IntRange(1, 500),
    help="Parallel hosts (default: number of hosts, 5 to 50).",
)
@click.option(
    "--strategy",
    type=click.Choice(["auto", "mitogen", "linear"]),
    default="auto",
    show_default=True,
    help="auto uses mitogen when installed, else Ansible's linear strategy.",
)
@click.option(
    "--full",
    is_flag=True,
    help="Converge every host; skip the probe that leaves unchanged hosts out.",
)
@click.option("--json", "as_json", is_flag=True, help="Print events and the summary as JSON lines.")
@click.option("-v", "--verbose", "verbosity", count=True, help="Pass -v to Ansible (repeatable).")
@handle_errors
def apply(playbook, inventory_path, as_json, extra_vars, full, **options):
    """Converge hosts with PLAYBOOK (a name from playbooks/, e.g. 'site', or a path).

    Hosts whose last clean converge had the same inputs, and where nothing it manages
    has changed since, are probed and left out ("unchanged (probe)"); --full runs all."""
    from homeforge.inventory.checks import warnings

    playbook_path = paths.resolve_playbook(playbook)
    inv = checked_inventory(inventory_path)
    for line in warnings(inv):  # allowed, but worth knowing (a service open to every client)
        display.warning(line)
    request = runner.ApplyRequest(playbook_path, inv, extra_vars=list(extra_vars), **options)
    finish(converge(request, as_json, full=full).ok)


def converge(request: runner.ApplyRequest, as_json: bool, full: bool = False) -> runner.RunResult:
    """Preflight (every host reachable), probe (the fast path), run the hosts that need it
    with live progress or JSON events, stamp the hosts that converged cleanly, recap."""
    hosts = request.inventory.select(request.limit)
    request.inventory.require_vault()
    runner.require_reachable(request.inventory, hosts)
    # A run limited by tags is partial: it may run but never vouch for a host.
    partial = bool(request.tags or request.skip_tags)
    stamping = not (request.check or partial)
    with Remote(request.inventory) as remote:
        fast = FastPath(request.inventory, request.playbook, hosts, request.extra_vars)
        if full or partial:
            fast.bypass(remote, request.check)
        else:
            fast.probe(remote, request.check)
        if as_json:
            for host in hosts:
                probe = fast.probes[host]
                display.emit(
                    {
                        "event": "probe",
                        "host": host,
                        "outcome": probe.outcome,
                        "detail": probe.detail,
                    }
                )
        to_run, result, done = fast.to_run, None, []
        for _round in range(2):  # a second round when the first changed others' inputs
            if not to_run:
                break
            ran = _run(request, hosts, to_run, as_json, fast, stamping, remote)
            result = ran if result is None else _merged(result, ran)
            done += to_run
            to_run = fast.changed_by_run(remote, done) if stamping and ran.ok else []
    if result is None:
        result = runner.RunResult("successful", 0, fast.elapsed, None, completed=True)
    result.probe_elapsed = fast.elapsed
    for host in hosts:
        result.stats.setdefault(host, runner.HostStats())
        probe = fast.probes[host]
        if probe.unchanged:
            result.outcomes[host] = UNCHANGED
            continue
        healthy = result.stats[host].healthy and not any(f.host == host for f in result.failures)
        result.outcomes[host] = "checked" if request.check else CONVERGED if healthy else "failed"
        result.reasons[host] = probe.reason
    if as_json:
        display.emit(progress.summary(result))
    else:
        progress.recap(result)
    return result


def _merged(first: runner.RunResult, second: runner.RunResult) -> runner.RunResult:
    """Two rounds of one apply as one result: the second's hosts and outcome added."""
    second.stats = {**first.stats, **second.stats}
    second.failures = first.failures + second.failures
    second.warnings = sorted(set(first.warnings + second.warnings))
    second.elapsed += first.elapsed
    if first.status != "successful":
        second.status, second.rc = first.status, first.rc
    return second


def _run(
    request: runner.ApplyRequest,
    selected: list[str],
    hosts: list[str],
    as_json: bool,
    fast: FastPath,
    stamping: bool,
    remote: Remote,
) -> runner.RunResult:
    """One Ansible run limited to ``hosts``; afterwards, stamps for those that converged."""
    request = dataclasses.replace(request, extra_vars=list(request.extra_vars))
    if len(hosts) < len(selected):
        request.limit = ",".join(hosts)
    if request.limit:
        known = live.known_facts(request.inventory, hosts)
        if known:
            request.extra_vars.append(json.dumps({"wireguard_known_facts": known}))
    watch = WatchList(request.inventory)
    plays: list[str] = []

    def collect(event: dict) -> None:
        if event.get("event") == "playbook_on_play_start":
            plays.append(str((event.get("event_data") or {}).get("name", "")))
        watch.add_event(event)

    cancelled = threading.Event()
    try:
        if as_json:
            result = runner.run_playbook(
                request, _both(collect, progress.JsonEvents().on_event), cancelled
            )
        else:
            mode = " (check mode)" if request.check else ""
            skipped = len(selected) - len(hosts)
            note = f", {skipped} unchanged (probe)" if skipped else ""
            title = f"{request.playbook.name} on {len(hosts)} host(s){mode}{note}"
            with progress.LiveProgress(title, hosts) as shown:
                result = runner.run_playbook(request, _both(collect, shown.on_event), cancelled)
    except KeyboardInterrupt:
        cancelled.set()
        raise
    if stamping:
        stampable = fast.stampable(result, hosts, plays)
        fast.refresh()  # the inputs as the run left them (the fact cache has what it learnt)
        for host, problem in fast.write(remote, stampable, watch).items():
            result.warnings.append(
                f"{host}: no stamp written ({problem}); the next apply converges it"
            )
    return result


def _both(first, second):
    def handle(event):
        first(event)
        second(event)

    return handle
