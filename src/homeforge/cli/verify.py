"""``homeforge verify``: each role's testinfra suite against the hosts that carry it."""

from __future__ import annotations

from pathlib import Path

import click

from homeforge import display, paths
from homeforge.cli.common import (
    checked_inventory,
    finish,
    handle_errors,
    inventory_option,
    json_option,
    limit_option,
)
from homeforge.display import tables


@click.command()
@inventory_option
@limit_option
@click.option(
    "--playbook",
    default="site",
    show_default=True,
    help="Which playbook decides the roles a host carries.",
)
@click.option(
    "--junit",
    "junit_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for JUnit XML (default: .homeforge/verify/<timestamp>/).",
)
@json_option
@handle_errors
def verify(inventory_path, limit, playbook, junit_dir, as_json):
    """Run each role's testinfra suite against the hosts that carry it."""
    from homeforge import verify as verify_mod

    playbook_path = paths.resolve_playbook(playbook)
    inv = checked_inventory(inventory_path)
    hosts = verify_mod.require_inventory_hosts(inv, limit)
    out_dir = junit_dir or verify_mod.default_out_dir()
    reports = verify_mod.run(inv, hosts, playbook_path, out_dir)
    ok = all(r.ok for r in reports)
    if as_json:
        display.emit(verify_mod.as_json(reports, out_dir / "junit.xml"))
    else:
        tables.verify_reports(reports, out_dir / "junit.xml")
    finish(ok)
