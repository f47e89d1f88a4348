"""``homeforge apply PLAYBOOK``: converge hosts."""

from __future__ import annotations

import click

from homeforge import display, paths, runner
from homeforge.cli.common import (
    checked_inventory,
    finish,
    handle_errors,
    inventory_option,
    limit_option,
)
from homeforge.converge import converge
from homeforge.display.progress import ConvergeDisplay


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
@click.option(
    "--break-lease",
    is_flag=True,
    help="Take over the converge lease an expired run of another controller left on the hosts.",
)
@click.option("--json", "as_json", is_flag=True, help="Print events and the summary as JSON lines.")
@click.option("-v", "--verbose", "verbosity", count=True, help="Pass -v to Ansible (repeatable).")
@handle_errors
def apply(playbook, inventory_path, as_json, extra_vars, full, **options):
    """Converge hosts with PLAYBOOK (a name from playbooks/, e.g. 'site', or a path).

    Hosts whose last clean converge had the same inputs, and where nothing it manages
    has changed since, are probed and left out ("unchanged (probe)"); --full runs all."""
    from homeforge.checks import warnings

    playbook_path = paths.resolve_playbook(playbook)
    inv = checked_inventory(inventory_path)
    for line in warnings(inv):  # allowed, but worth knowing (a service open to every client)
        display.warning(line)
    request = runner.ApplyRequest(playbook_path, inv, extra_vars=list(extra_vars), **options)
    shown = ConvergeDisplay(as_json)
    result = converge(request, full=full, view=shown)
    shown.finished(result)
    finish(result.ok)
