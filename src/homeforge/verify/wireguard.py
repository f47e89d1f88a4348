"""What the wireguard role's tests expect, computed from the inventory alone."""

from __future__ import annotations

from homeforge.inventory.model import Inventory
from homeforge.wireguard.planner import load_mesh_utils
from homeforge.wireguard.settings import MeshSettings


def expected_peer_names(inv: Inventory, host: str, hvars: dict) -> list[str]:
    mesh = load_mesh_utils()
    members = list(MeshSettings.of(inv).members)
    plan = mesh.plan(
        hvars["wireguard_mesh_cidr"], mesh.hosts_from_vars(members, inv.hostvars), need_keys=False
    )
    return [peer["name"] for peer in plan[host]["peers"]]
