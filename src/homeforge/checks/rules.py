"""The loop every check domain shares: a host's variables against their rules, one line
per broken value (``FILE: host HOST: KEY: VALUE: problem``). Unset values and Jinja
templates are left to Ansible; an ``optional`` variable may also be empty ("not used").
The items of a list variable likewise (``list_problems``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ansible.module_utils.parsing.convert_bool import boolean

from homeforge.inventory.model import Inventory, is_template
from homeforge.validation import sha256_problem

ARCHITECTURES = ("amd64", "arm64")


def digest_map_problem(value: object) -> str | None:
    """Published SHA-256 digests by architecture (``{amd64: HEX, arm64: HEX}``, either or
    both), as ``k3s_sha256`` and ``ollama_sha256`` give them."""
    if not isinstance(value, dict):
        return "must be a mapping of architecture (amd64, arm64) to a SHA-256"
    for arch, digest in value.items():
        if arch not in ARCHITECTURES:
            return f"{arch!r} is not an architecture (amd64, arm64)"
        problem = sha256_problem(digest)
        if problem:
            return f"{arch}: {problem}"
    return None


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


def list_problems(
    inv: Inventory, host: str, key: str, rule: Callable[[object], str | None]
) -> list[str]:
    """Each item of a list variable by its rule (not a list: the role_variables check says so)."""
    items = inv.hostvars[host].get(key)
    if not isinstance(items, list) or is_template(items):
        return []
    return [
        f"{inv.where(host, key)}: {item!r}: {problem}"
        for item in items
        if not is_template(item) and (problem := rule(item))
    ]


def is_true(value: object) -> bool:
    """A boolean inventory variable as Ansible reads it (true, 'yes', 1...); a template is not."""
    if not isinstance(value, (bool, int, float, str)) or is_template(value):
        return False  # another type: the role_variables check says so
    return boolean(value, strict=False)
