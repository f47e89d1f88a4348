"""``homeforge mesh``: the WireGuard mesh's apply, status, plan and key rotation
(cutover and rollback are in :mod:`homeforge.cli.cutover`)."""

from __future__ import annotations

import click
from rich.text import Text

from homeforge import display, paths, runner
from homeforge.cli.common import (
    checked_inventory,
    finish,
    handle_errors,
    inventory_option,
    json_option,
)
from homeforge.converge import converge
from homeforge.display import tables
from homeforge.display.progress import ConvergeDisplay


@click.group()
def mesh() -> None:
    """The WireGuard mesh: plan, apply, status, key rotation, cutover and rollback."""


@mesh.command("apply")
@inventory_option
@click.option("-l", "--limit", help="Only these hosts (their peers on other hosts are kept).")
@click.option("-C", "--check", is_flag=True, help="Change nothing; report what would change.")
@click.option("-D", "--diff", is_flag=True, help="Show the config differences.")
@click.option("--full", is_flag=True, help="Converge every host; skip the probe (see apply).")
@click.option("--json", "as_json", is_flag=True, help="Print events and the summary as JSON lines.")
@handle_errors
def mesh_apply(inventory_path, limit, check, diff, full, as_json):
    """Converge only the mesh (playbooks/mesh.yml)."""
    inv = checked_inventory(inventory_path)
    request = runner.ApplyRequest(
        paths.resolve_playbook("mesh"), inv, limit=limit, check=check, diff=diff
    )
    shown = ConvergeDisplay(as_json)
    result = converge(request, full=full, view=shown)
    shown.finished(result)
    finish(result.ok)


@mesh.command("status")
@inventory_option
@json_option
@handle_errors
def mesh_status(inventory_path, as_json):
    """Per peer: latest handshake, transfer and endpoint, read from the hosts."""
    from homeforge.wireguard.live import live_mesh

    live = live_mesh(checked_inventory(inventory_path))
    if as_json:
        names = live.names_by_key
        display.emit(
            {
                "interface": live.settings.interface,
                "healthy": live.healthy,
                "hosts": [
                    {
                        "host": h.host,
                        "address": h.address,
                        "public_key": h.public_key,
                        "error": h.error,
                        "peers": [dict(vars(p), name=names.get(p.public_key)) for p in h.peers],
                    }
                    for h in live.hosts.values()
                ],
            }
        )
    else:
        tables.mesh_status(live)
    finish(live.healthy)


@mesh.command("plan")
@inventory_option
@json_option
@handle_errors
def mesh_plan(inventory_path, as_json):
    """Per host: the peers a converge would add, change or remove. Changes nothing."""
    from homeforge.wireguard.live import live_mesh, plan_changes

    inv = checked_inventory(inventory_path)
    live = live_mesh(inv)
    changes = plan_changes(inv, live)
    if as_json:
        display.emit(
            {
                "hosts": {h: [vars(c) for c in cs] for h, cs in changes.items()},
                "unreadable": live.unreadable,
            }
        )
    else:
        tables.mesh_plan(changes, live.unreadable)


@mesh.command("rotate-keys")
@inventory_option
@click.option(
    "--host",
    "hosts",
    multiple=True,
    help="Host whose key to replace (repeatable; default: every mesh host, one at a time).",
)
@json_option
@handle_errors
def mesh_rotate_keys(inventory_path, hosts, as_json):
    """Replace hosts' keys and update every peer, measuring the interruption."""
    from homeforge.wireguard.rotate import rotate_keys

    def show(r) -> None:
        if as_json:
            return
        verdict = "rotated" if r.ok else "FAILED"
        display.console.print(
            f"{r.host}: {verdict} {r.old_key[:8]}... -> {r.new_key[:8]}... in "
            f"{r.elapsed:.1f}s; {r.observer} -> {r.host}: {r.lost} of {r.sent} echo requests "
            f"lost (~{r.interruption_s:.1f}s interruption)"
        )
        for line in r.failures:
            display.err_console.print(Text(line, style="red"))

    rotations = rotate_keys(checked_inventory(inventory_path), hosts, show)
    if as_json:
        display.emit(
            {
                "rotations": [
                    dict(vars(r), interruption_s=r.interruption_s, failures=list(r.failures))
                    for r in rotations
                ]
            }
        )
    finish(all(r.ok for r in rotations))
