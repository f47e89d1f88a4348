"""The NVIDIA roles' apt source lines, which are written into sources.list.d, by the
shared rule (`auto` is the driver role's own choice of source)."""

from __future__ import annotations

from homeforge.inventory.model import Inventory, is_template
from homeforge.validation import apt_source_problem

SOURCES = ("nvidia_driver_apt_repository", "nvidia_container_toolkit_apt_repository")


def check_apt_sources(inv: Inventory) -> list[str]:
    problems = []
    for host, hvars in inv.hostvars.items():
        for key in SOURCES:
            value = hvars.get(key)
            if value is None or value == "auto" or is_template(value):
                continue
            problem = apt_source_problem(value)
            if problem:
                problems.append(f"{inv.where(host, key)}: {value!r}: {problem}")
    return problems


CHECKS = [check_apt_sources]
