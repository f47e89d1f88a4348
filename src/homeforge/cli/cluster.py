"""``homeforge cluster status | kubeconfig``: the K3s cluster of the inventory."""

from __future__ import annotations

from pathlib import Path

import click

from homeforge import display
from homeforge.cli.common import (
    checked_inventory,
    finish,
    handle_errors,
    inventory_option,
    json_option,
)
from homeforge.display import tables


@click.group()
def cluster() -> None:
    """The K3s cluster: its nodes, and a kubeconfig for this machine."""


@cluster.command("status")
@inventory_option
@json_option
@handle_errors
def cluster_status(inventory_path, as_json):
    """Nodes as the first server sees them (roles, version, Ready, GPUs; missing nodes),
    StorageClasses, and HTTPS endpoints with their certificate's issuer and expiry."""
    from homeforge.cluster import status

    inv = checked_inventory(inventory_path)
    found = status(inv)
    if as_json:
        display.emit(
            {
                "cluster": {
                    "server": found.server,
                    "nodes": [vars(n) for n in found.nodes],
                    "missing": found.missing,
                    "storage_classes": [vars(c) for c in found.storage],
                    "endpoints": [vars(e) for e in found.endpoints],
                }
            }
        )
    else:
        tables.cluster(found)
    finish(found.healthy)


@cluster.command("kubeconfig")
@inventory_option
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    help="Where to write it (default: ~/.kube/CONTEXT.yaml).",
)
@click.option(
    "--context", help="Name of the cluster, user and context (default: homeforge-INVENTORY)."
)
@json_option
@handle_errors
def cluster_kubeconfig(inventory_path, output, context, as_json):
    """Write a kubeconfig for the cluster (0600; server rewritten to the API endpoint)."""
    from homeforge.cluster import kubeconfig

    inv = checked_inventory(inventory_path)
    name = context or f"homeforge-{inv.path.stem if inv.path.is_file() else inv.path.name}"
    target = output or Path.home() / ".kube" / f"{name}.yaml"
    result = kubeconfig(inv, target.expanduser(), name)
    if as_json:
        display.emit({"kubeconfig": result})
    else:
        display.console.print(
            f"wrote {result['path']} (context {name}, server {result['server']}); "
            f"use it with: export KUBECONFIG={result['path']}"
        )
