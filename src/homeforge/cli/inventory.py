"""``homeforge inventory check``."""

from __future__ import annotations

import sys

import click

from homeforge import display
from homeforge.cli.common import handle_errors, inventory_path, vault, vault_options
from homeforge.errors import EXIT_BAD_INPUT, EXIT_OK, InventoryInvalid


@click.group()
def inventory() -> None:
    """Inspect and validate inventories."""


@inventory.command("check")
@click.option(
    "-i",
    "--inventory",
    "inventory_path_given",
    metavar="INVENTORY",
    help="Inventory file or directory (default: the lab's, when it is up).",
)
@vault_options
@click.option("--json", "as_json", is_flag=True, help="Print problems as a JSON list.")
@handle_errors
def inventory_check(inventory_path_given, as_json):
    """Validate an inventory: addresses, groups, role variables, CIDRs, mesh, services."""
    from homeforge.checks import check, warnings
    from homeforge.inventory import load

    path = inventory_path(inventory_path_given)
    try:
        inv = load(path, vault())
        problems, warned = check(inv), warnings(inv)
    except InventoryInvalid as exc:
        problems, warned, inv = exc.problems, [], None
    if as_json:
        display.emit(
            {"inventory": path, "ok": not problems, "problems": problems, "warnings": warned}
        )
        sys.exit(EXIT_BAD_INPUT if problems else EXIT_OK)
    if problems:
        raise InventoryInvalid(problems)
    display.console.print(f"{path}: ok ({len(inv.hosts)} hosts, {len(inv.groups)} groups)")
    for line in warned:  # allowed, but worth knowing (a service open to every client)
        display.warning(line)
