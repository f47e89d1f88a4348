"""The collection's roles as data: their argument specs and defaults.

``roles/<role>/meta/argument_specs.yml`` is the one source of each variable's
type, default and description (Ansible enforces it when the role starts).
Variables several roles share (e.g. a cluster token read by servers and agents)
are declared once in ``meta/shared_variables.yml`` at the collection root.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import yaml

from homeforge import paths

SHARED_VARIABLES = "meta/shared_variables.yml"


@dataclass(frozen=True)
class RoleSpec:
    role: str
    prefix: str
    options: dict[str, dict[str, Any]]


@cache
def role_specs() -> tuple[RoleSpec, ...]:
    """Argument specs of every role that has one, longest prefix first."""
    specs = []
    for spec_file in sorted((paths.content_root() / "roles").glob("*/meta/argument_specs.yml")):
        role = spec_file.parent.parent.name
        data = yaml.safe_load(spec_file.read_text()) or {}
        options = (data.get("argument_specs", {}).get("main", {}) or {}).get("options", {}) or {}
        specs.append(RoleSpec(role, f"{role}_", options))
    return tuple(sorted(specs, key=lambda s: -len(s.prefix)))


@cache
def shared_variables() -> dict[str, dict[str, Any]]:
    """Variables declared once for several roles: name -> option (type, roles, ...)."""
    path = paths.content_root() / SHARED_VARIABLES
    if not path.is_file():
        return {}
    data = yaml.safe_load(path.read_text()) or {}
    return dict(data.get("variables") or {})


@cache
def _defaults(role: str) -> dict[str, Any]:
    defaults = paths.content_root() / "roles" / role / "defaults" / "main.yml"
    return (yaml.safe_load(defaults.read_text()) or {}) if defaults.is_file() else {}


def role_default(role: str, key: str) -> Any:
    """A role's default for a variable, as written in defaults/main.yml (not templated)."""
    return _defaults(role).get(key)
