"""The variables a role sees on a host, computed the way Ansible would.

Role defaults (lowest precedence) are overlaid by the inventory's group and host
variables and templated with Ansible's own templar, so a test can compare the
host with what the role was asked to do.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from homeforge import paths, vault
from homeforge.inventory import Inventory, load
from homeforge.inventory import plain as _plain


@cache
def cached_inventory(path: str) -> Inventory:
    return load(path, vault.from_environment())


def _use_vault(loader) -> None:
    """The vault password ``homeforge verify`` hands over, set up as Ansible's own
    commands set it, so the variables template (and decrypt) as they do in a run."""
    from ansible.parsing.vault import VaultSecretsContext

    given = vault.from_environment()
    if given is None:
        return
    loader.set_vault_secrets(given.secrets())
    if VaultSecretsContext.current(optional=True) is None:
        VaultSecretsContext.initialize(VaultSecretsContext(given.secrets()))


def role_defaults(loader) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for defaults in sorted((paths.content_root() / "roles").glob("*/defaults/main.yml")):
        merged.update(loader.load_from_file(str(defaults), trusted_as_template=True) or {})
    return merged


def role_vars(inventory_path: str, host: str) -> dict[str, Any]:
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar
    from ansible.vars.manager import VariableManager

    loader = DataLoader()
    _use_vault(loader)
    manager = InventoryManager(loader=loader, sources=[inventory_path])
    target = manager.get_host(host)
    if target is None:
        raise KeyError(f"{inventory_path}: no host named {host}")
    variables = VariableManager(loader=loader, inventory=manager).get_vars(
        host=target, include_hostvars=True
    )
    defaults = role_defaults(loader)
    context = {**defaults, **variables}
    templar = Templar(loader=loader, variables=context)
    resolved = {key: templar.template(context[key]) for key in defaults}
    skip = {"hostvars", "vars", *defaults}
    resolved.update({k: v for k, v in variables.items() if k not in skip})
    resolved["inventory_hostname"] = host
    return _plain(resolved)
