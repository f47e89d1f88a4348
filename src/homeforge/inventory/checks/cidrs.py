"""Every variable named ``*_cidr`` (or a list named ``*_cidrs``) is a network in CIDR form."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from homeforge.inventory.model import Inventory, is_template


def _walk_cidrs(key: str, value: Any) -> Iterable[tuple[str, Any]]:
    if key.endswith("_cidr"):
        yield key, value
    elif key.endswith("_cidrs") and isinstance(value, list):
        for item in value:
            yield key, item


def check_cidrs(inv: Inventory) -> list[str]:
    problems = []
    for host, hvars in inv.hostvars.items():
        for key, value in sorted(hvars.items()):
            for name, cidr in _walk_cidrs(key, value):
                if is_template(cidr):
                    continue
                try:
                    ipaddress.ip_network(str(cidr), strict=True)
                except ValueError as exc:
                    problems.append(
                        f"{inv.where(host, name)}: '{cidr}' is not a valid CIDR ({exc})"
                    )
    return problems


CHECKS = [check_cidrs]
