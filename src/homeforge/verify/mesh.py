"""What the wireguard role's tests expect, computed from the inventory alone."""

from __future__ import annotations

from homeforge.inventory import Inventory
from homeforge.meshplan import load_mesh_utils


def expected_peer_names(inv: Inventory, host: str, hvars: dict) -> list[str]:
    mesh = load_mesh_utils()
    group = hvars.get("wireguard_group", "all")
    members = inv.hosts if group == "all" else inv.groups.get(group, [])
    plan = mesh.plan(
        hvars["wireguard_mesh_cidr"], mesh.hosts_from_vars(members, inv.hostvars), need_keys=False
    )
    return [peer["name"] for peer in plan[host]["peers"]]
