"""``homeforge apply PLAYBOOK``: converge hosts."""

from __future__ import annotations

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
@click.option("--json", "as_json", is_flag=True, help="Print events and the summary as JSON lines.")
@click.option("-v", "--verbose", "verbosity", count=True, help="Pass -v to Ansible (repeatable).")
@handle_errors
def apply(playbook, inventory_path, as_json, extra_vars, **options):
    """Converge hosts with PLAYBOOK (a name from playbooks/, e.g. 'site', or a path)."""
    playbook_path = paths.resolve_playbook(playbook)
    inv = checked_inventory(inventory_path)
    request = runner.ApplyRequest(playbook_path, inv, extra_vars=list(extra_vars), **options)
    finish(converge(request, as_json).ok)


def converge(request: runner.ApplyRequest, as_json: bool) -> runner.RunResult:
    """Preflight (every host reachable), run with live progress or JSON events, recap."""
    hosts = request.inventory.select(request.limit)
    runner.require_reachable(request.inventory, hosts)
    if request.limit:
        known = live.known_facts(request.inventory, hosts)
        if known:
            request.extra_vars.append(json.dumps({"wireguard_known_facts": known}))
    cancelled = threading.Event()
    try:
        if as_json:
            result = runner.run_playbook(request, progress.JsonEvents().on_event, cancelled)
        else:
            mode = " (check mode)" if request.check else ""
            title = f"{request.playbook.name} on {len(hosts)} host(s){mode}"
            with progress.LiveProgress(title, hosts) as shown:
                result = runner.run_playbook(request, shown.on_event, cancelled)
    except KeyboardInterrupt:
        cancelled.set()
        raise
    if as_json:
        display.emit(progress.summary(result))
    else:
        progress.recap(result)
    return result
