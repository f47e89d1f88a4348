"""``homeforge lab``: podman systemd containers acting as hosts."""

from __future__ import annotations

import click

from homeforge import display
from homeforge.cli.common import finish, handle_errors, json_option
from homeforge.display import tables

name_option = click.option("--name", default="homeforge-lab", show_default=True, help="Lab name.")


@click.group()
def lab() -> None:
    """The built-in lab: podman systemd containers acting as hosts."""


@lab.command("up")
@click.option("-n", "--nodes", type=int, default=3, show_default=True, help="Number of hosts.")
@click.option(
    "--subnet", default="10.254.90.0/24", show_default=True, help="The lab network's IPv4 subnet."
)
@click.option("--privileged", is_flag=True, help="Privileged hosts (needed by a real K3s).")
@click.option(
    "--cluster",
    is_flag=True,
    help="With the cluster layer: lab-1 a K3s server, the others agents, the last a GPU node "
    "(stand-in K3s and GPU, or a real K3s from HOMEFORGE_K3S_ARTIFACTS).",
)
@name_option
@handle_errors
def lab_up(nodes, subnet, privileged, cluster, name):
    """Create the lab hosts and write their inventory."""
    from homeforge import lab as lab_mod

    created = lab_mod.up(
        nodes, name, subnet, privileged, log=display.console.print, cluster=cluster
    )
    tables.lab_created(created, lab_mod.inventory_path(name))


@lab.command("down")
@name_option
@click.option("--image", "remove_image", is_flag=True, help="Also remove the cached base image.")
@handle_errors
def lab_down(name, remove_image):
    """Remove everything 'lab up' created."""
    from homeforge import lab as lab_mod

    removed = lab_mod.down(name, remove_image)
    display.console.print(
        f"removed: {', '.join(removed)}" if removed else f"lab '{name}': nothing to remove"
    )


@lab.command("image")
@handle_errors
def lab_image():
    """Build the lab's base image if needed and print its tag (molecule uses it)."""
    from homeforge.lab import image, podman

    podman.require()
    click.echo(image.ensure(log=display.err_console.print))


@lab.command("status")
@name_option
@click.option(
    "--cluster",
    "need_cluster",
    is_flag=True,
    help="Also fail unless the lab has the cluster layer.",
)
@json_option
@handle_errors
def lab_status(name, need_cluster, as_json):
    """Hosts, addresses and health."""
    from homeforge import lab as lab_mod

    health = lab_mod.status(name)
    has_cluster = bool((lab_mod.load(name) or lab_mod.Lab(name, "", "", False, [])).cluster)
    healthy = lab_mod.healthy(health) and (has_cluster or not need_cluster)
    if as_json:
        display.emit(
            {
                "lab": name,
                "healthy": healthy,
                "cluster": has_cluster,
                "hosts": [vars(h) for h in health],
            }
        )
    else:
        tables.lab_health(name, health)
        if need_cluster and not has_cluster:
            display.console.print(f"lab '{name}' has no cluster layer (made without --cluster)")
    finish(healthy)


@lab.command("recap")
@name_option
@json_option
@handle_errors
def lab_recap(name, as_json):
    """What ran for real in the lab and what ran against a stand-in."""
    from homeforge import lab as lab_mod
    from homeforge.errors import BadInput
    from homeforge.lab import cluster as cluster_layer

    found = lab_mod.load(name)
    if found is None or not found.cluster:
        raise BadInput(f"lab '{name}': no lab with the cluster layer (homeforge lab up --cluster)")
    rows = cluster_layer.recap(found)
    if as_json:
        display.emit({"recap": [{"part": part, "ran": how} for part, how in rows]})
    else:
        tables.recap(name, rows)
