"""``homeforge inventory check``: every problem in an inventory, one line each.

Each line reads ``FILE: host HOST: KEY: what is wrong`` so an operator can go
straight to the place to fix. ``homeforge apply`` runs the same checks first and
applies nothing when one fails. Checks are grouped by domain, one module each;
a new role adds its module here (its ``CHECKS`` list) and nothing else. A domain's
``WARNINGS`` list names what is allowed but should be said (a service opened to every
client): ``warnings()`` gives those lines, in the same form; they fail nothing.
"""

from __future__ import annotations

import os

from homeforge.checks import (
    cidrs,
    ebs,
    eks,
    gateway,
    hosts,
    ingress,
    istio,
    k3s,
    nfs,
    nvidia,
    ollama,
    role_variables,
    services,
    support,
    wireguard,
)
from homeforge.errors import InventoryInvalid
from homeforge.inventory.loader import load
from homeforge.inventory.model import Inventory
from homeforge.vault import Vault

DOMAINS = (
    hosts,
    role_variables,
    cidrs,
    k3s,
    wireguard,
    services,
    ollama,
    gateway,
    nvidia,
    nfs,
    ingress,
    istio,
    ebs,
    eks,
    support,
)


def check(inv: Inventory) -> list[str]:
    """Every problem in the inventory, one line each, in a stable order. Where two
    checks find fault with the same variable of the same host (a type and what the
    type breaks further on), the first check's lines stand for both."""
    if not inv.hostvars:
        return [f"{inv.shown}: inventory defines no hosts"]
    problems: list[str] = []
    seen: set[str] = set()  # places an earlier check has reported
    for domain in DOMAINS:
        for fn in domain.CHECKS:
            lines = fn(inv)
            problems += [line for line in lines if _place(line) not in seen]
            seen.update(place for place in map(_place, lines) if place is not None)
    return problems


def warnings(inv: Inventory) -> list[str]:
    """What the inventory allows but an operator should know, one line each."""
    return [
        line for domain in DOMAINS for fn in getattr(domain, "WARNINGS", ()) for line in fn(inv)
    ]


def _place(line: str) -> str | None:
    """``FILE: host HOST: KEY`` of a problem line, None when it names no host's key."""
    parts = line.split(": ", 3)
    if len(parts) == 4 and parts[1].startswith("host "):
        return ": ".join(parts[1:3])
    return None


def load_and_check(path: str | os.PathLike, vault: Vault | None = None) -> Inventory:
    """Load, then check; InventoryInvalid with every problem when there is one."""
    inv = load(path, vault)
    problems = check(inv)
    if problems:
        raise InventoryInvalid(problems)
    return inv
