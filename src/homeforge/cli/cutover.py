"""``homeforge mesh services | cutover | rollback``: a service's consumers onto the mesh and back."""

from __future__ import annotations

import click
from rich.text import Text

from homeforge import display
from homeforge.cli.common import checked_inventory, handle_errors, inventory_option, json_option
from homeforge.cli.mesh import mesh
from homeforge.display import tables

STYLES = {"ok": "green", "change": "yellow", "would": "yellow", "fail": "red", "warn": "magenta"}
MARKS = {"ok": "ok", "change": "changed", "would": "would", "fail": "FAILED", "warn": "warning"}


def _reporter(as_json: bool):
    def report(event) -> None:
        if as_json:
            display.emit({"event": vars(event)})
            return
        where = f"{event.host}: " if event.host else ""
        mark = MARKS.get(event.status, event.status)
        display.console.print(
            Text(
                f"{event.elapsed:6.1f}s {event.step:9} {mark:8} {where}{event.message}",
                style=STYLES.get(event.status, ""),
            ),
            soft_wrap=True,
        )

    return report


BREAK_LEASE = click.option(
    "--break-lease",
    is_flag=True,
    help="Take over an expired lease left on the service hosts by a controller that died.",
)


def _run(inventory_path, service, as_json, action, break_lease=False) -> None:
    from homeforge.cutover import run_engine

    def run(engine):
        engine.break_lease = break_lease
        return action(engine)

    inv = checked_inventory(inventory_path)
    result = run_engine(inv, service, _reporter(as_json), run)
    if as_json:
        display.emit({"summary": result})


@mesh.command("services")
@inventory_option
@json_option
@handle_errors
def mesh_services(inventory_path, as_json):
    """Declared services (homeforge_services) and where each one's cutover stands."""
    from homeforge.cutover.status import service_rows

    inv = checked_inventory(inventory_path)
    rows = service_rows(inv)
    if as_json:
        display.emit({"services": rows})
    elif not rows:
        display.console.print(f"{inv.path}: no services declared (homeforge_services)")
    else:
        tables.services(rows)


@mesh.command("cutover")
@click.argument("service")
@inventory_option
@click.option(
    "-C", "--check", is_flag=True, help="Preflight and shadow only; show what would change."
)
@click.option("--json", "as_json", is_flag=True, help="Print steps and the result as JSON lines.")
@BREAK_LEASE
@handle_errors
def mesh_cutover(service, inventory_path, check, as_json, break_lease):
    """Move SERVICE's consumers onto the mesh: preflight, shadow, switch, expose, verify.

    Every change is journaled first (STATE/cutover/INVENTORY/SERVICE.json); a failure
    rolls back on its own, Ctrl-C stops between steps, and running cutover again
    resumes. A lease on the service hosts keeps other controllers out meanwhile.
    """
    _run(inventory_path, service, as_json, lambda e: e.cutover(check=check), break_lease)


@mesh.command("rollback")
@click.argument("service")
@inventory_option
@click.option("-C", "--check", is_flag=True, help="Show what would be restored; change nothing.")
@click.option("--force", is_flag=True, help="Restore even when the legacy endpoints do not answer.")
@click.option("--json", "as_json", is_flag=True, help="Print steps and the result as JSON lines.")
@BREAK_LEASE
@handle_errors
def mesh_rollback(service, inventory_path, check, force, as_json, break_lease):
    """Restore SERVICE's journaled endpoints and exposure, and verify the legacy path."""
    _run(
        inventory_path,
        service,
        as_json,
        lambda e: e.rollback(check=check, force=force),
        break_lease,
    )
