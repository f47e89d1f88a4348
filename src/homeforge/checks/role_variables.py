"""Role variables: typed by each role's ``meta/argument_specs.yml`` (the spec Ansible
itself enforces when the role starts), so the schema lives in one place.

A variable belongs to the role whose name prefixes it (``wireguard_port``), or is
one of the variables several roles share, declared once in
``meta/shared_variables.yml`` (:func:`homeforge.roles.shared_variables`). An unknown
variable with a role's prefix is reported with the nearest known name.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from homeforge.inventory.model import Inventory, Vaulted, is_template
from homeforge.roles import RoleSpec, role_specs, shared_variables


def _loose(option: dict[str, Any]) -> dict[str, Any]:
    """A spec option for checking types only: inventories may leave anything out."""
    out = {
        k: v for k, v in option.items() if k not in ("required", "default", "description", "roles")
    }
    if "options" in out:
        out["options"] = {k: _loose(v) for k, v in out["options"].items()}
    return out


def _spec_for(key: str, specs: tuple[RoleSpec, ...], shared: dict) -> tuple[str, dict | None]:
    """(owner, option) for a variable: option None when the owner has no such variable;
    owner "" when the variable is nobody's (left alone: inventories hold other things)."""
    if key in shared:
        return "shared", shared[key]
    spec = next((s for s in specs if key.startswith(s.prefix)), None)
    if spec is None:
        return "", None
    return spec.role, spec.options.get(key)


_SCALARS = (str, int, float)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _shape_problem(value: Any, option: dict[str, Any]) -> str | None:
    """Containers where scalars belong and the reverse. Ansible's own spec check turns
    ``"a"`` into ``["a"]`` and a mapping into its text; the roles' templates would
    then walk a string character by character, so an inventory must say what it means."""
    kind = option.get("type", "str")
    if value is None:
        return None
    if kind == "list" and not isinstance(value, list):
        return f"must be a list (e.g. [{value!r}]), not {type(value).__name__}"
    if kind == "dict" and not isinstance(value, dict):
        return f"must be a mapping (dict), not {type(value).__name__}"
    if kind in ("str", "int", "bool", "float", "path") and not isinstance(value, _SCALARS):
        return f"must be a single {kind} value, not {type(value).__name__}"
    if kind == "str" and isinstance(value, bool):
        return "must be a string, not a boolean (quote it)"
    if kind == "list" and option.get("elements") in ("str", "int", "bool", "float", "path"):
        for item in value:
            if not isinstance(item, _SCALARS) or isinstance(item, dict):
                return (
                    f"items must be single {option['elements']} values, not {type(item).__name__}"
                )
    return None


def _one_line_problems(value: Any, option: dict[str, Any]) -> list[str]:
    """No role variable of type str (or list of str) holds a multi-line value: each lands in a
    unit file, a config file, an apt source or a command line, where a newline starts a new
    setting. Mappings (chart values, K3s config) are written as YAML, which quotes them."""
    kind = option.get("type", "str")
    texts = [value] if kind in ("str", "path") else []
    if kind == "list" and option.get("elements") in ("str", "path"):
        texts = list(value or [])
    if any(isinstance(text, str) and _CONTROL.search(text) for text in texts):
        return ["must be one line, without control characters (newline, tab, ...)"]
    return []


def check_role_variables(inv: Inventory) -> list[str]:
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

    specs, shared = role_specs(), shared_variables()
    problems = []
    for host, hvars in inv.hostvars.items():
        for key, value in sorted(hvars.items()):
            owner, option = _spec_for(key, specs, shared)
            if not owner:
                continue
            if option is None:
                known = next(s.options for s in specs if s.role == owner)
                near = difflib.get_close_matches(key, known, n=1)
                hint = (
                    f" (did you mean {near[0]}?)"
                    if near
                    else f" (role {owner} has no such variable)"
                )
                problems.append(f"{inv.where(host, key)}: unknown variable{hint}")
                continue
            kind = option.get("type", "str")
            if isinstance(value, Vaulted) and kind in ("list", "dict"):
                problems.append(
                    f"{inv.where(host, key)}: a vaulted value is one string; this variable "
                    f"must be a {kind} (vault its items instead)"
                )
                continue
            if is_template(value):
                # Resolved by Ansible at run time (a vaulted secret: decrypted then), when
                # the role's own spec checks it.
                continue
            shape = _shape_problem(value, option)
            result = (
                None
                if shape
                else ArgumentSpecValidator({key: _loose(option)}).validate({key: value})
            )
            messages = [shape] if shape else result.error_messages
            if not messages:
                messages = _one_line_problems(value, option)
            if messages and option.get("no_log"):  # a secret's value is never repeated
                messages = [
                    f"must be a {option.get('type', 'str')} (value not shown: it is secret)"
                ]
            problems += [f"{inv.where(host, key)}: {message}" for message in messages]
    return problems


CHECKS = [check_role_variables]
