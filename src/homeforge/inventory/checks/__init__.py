"""``homeforge inventory check``: every problem in an inventory, one line each.

Each line reads ``FILE: host HOST: KEY: what is wrong`` so an operator can go
straight to the place to fix. ``homeforge apply`` runs the same checks first and
applies nothing when one fails. Checks are grouped by domain, one module each;
a new role adds its module here (its ``CHECKS`` list) and nothing else.
"""

from __future__ import annotations

import os

from homeforge.errors import InventoryInvalid
from homeforge.inventory.checks import (
    cidrs,
    hosts,
    k3s,
    role_variables,
    services,
    wireguard,
)
from homeforge.inventory.loader import load
from homeforge.inventory.model import Inventory

DOMAINS = (hosts, cidrs, k3s, wireguard, services, role_variables)


def check(inv: Inventory) -> list[str]:
    """Every problem in the inventory, one line each, in a stable order."""
    if not inv.hostvars:
        return [f"{inv.shown}: inventory defines no hosts"]
    problems: list[str] = []
    for domain in DOMAINS:
        for fn in domain.CHECKS:
            problems += fn(inv)
    return problems


def load_and_check(path: str | os.PathLike) -> Inventory:
    """Load, then check; InventoryInvalid with every problem when there is one."""
    inv = load(path)
    problems = check(inv)
    if problems:
        raise InventoryInvalid(problems)
    return inv
