"""Every variable named ``*_cidr`` (or a list named ``*_cidrs``) is a network in CIDR form."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from homeforge.inventory.model import Inventory, is_template
from homeforge.validation import cidr_problem


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
                problem = cidr_problem(str(cidr))
                if problem:
                    shown = f"'{cidr}' is {problem}" if problem.startswith("not ") else problem
                    problems.append(f"{inv.where(host, name)}: {shown}")
    return problems


CHECKS = [check_cidrs]
