"""The loop every check domain shares: a host's variables against their rules, one line
per broken value (``FILE: host HOST: KEY: VALUE: problem``). Unset values and Jinja
templates are left to Ansible; an ``optional`` variable may also be empty ("not used")."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from homeforge.inventory.model import Inventory, is_template


def rule_problems(
    inv: Inventory,
    host: str,
    hvars: Mapping[str, Any],
    rules: Mapping[str, Callable[[object], str | None]],
    optional: Iterable[str] = (),
) -> list[str]:
    optional = set(optional)
    problems = []
    for key, rule in rules.items():
        value = hvars.get(key)
        if value is None or is_template(value) or (key in optional and value == ""):
            continue
        problem = rule(value)
        if problem:
            problems.append(f"{inv.where(host, key)}: {value!r}: {problem}")
    return problems
