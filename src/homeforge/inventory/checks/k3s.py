"""The K3s cluster's groups (k3s-ansible's names): a host is a server or an agent, not both."""

from __future__ import annotations

from homeforge.inventory.model import Inventory

EXCLUSIVE_GROUPS = (("server", "agent"),)


def check_groups(inv: Inventory) -> list[str]:
    problems = []
    for host in inv.hosts:
        groups = set(inv.groups_of(host))
        for exclusive in EXCLUSIVE_GROUPS:
            both = [g for g in exclusive if g in groups]
            if len(both) > 1:
                problems.append(
                    f"{inv.shown}: host {host}: groups: in both {' and '.join(both)} (a host is one or the other)"
                )
    return problems


CHECKS = [check_groups]
