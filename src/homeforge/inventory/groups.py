"""Inventory groups the roles read from variables, named the way the roles name them."""

from __future__ import annotations

from homeforge.inventory.model import Inventory
from homeforge.roles import role_default


def server_group(inv: Inventory) -> str:
    """The servers' group name (``k3s_server_group``, read as the roles read it)."""
    first = next(iter(inv.hostvars.values()), {})
    return str(first.get("k3s_server_group", role_default("k3s_server", "k3s_server_group")))
