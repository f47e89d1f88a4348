"""Load an Ansible inventory the way Ansible does, keeping where each variable was set.

Loading only parses; :mod:`homeforge.checks` validates. Shape errors
Ansible would report vaguely or ignore (a host's variables that are not a
mapping, an unknown group key) are reported here, one line each, with the file.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from typing import Any

from homeforge import vault as vaults
from homeforge.errors import BadInput, InventoryInvalid
from homeforge.inventory.model import Inventory, Vaulted, is_template, plain
from homeforge.inventory.model import display_path as _display
from homeforge.inventory.yamlfile import read_text, read_yaml

GROUP_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
YAML_SUFFIXES = (".yml", ".yaml")


# --------------------------------------------------------------------------- loading


def _inventory_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(
            p for p in path.iterdir() if p.is_file() and p.suffix in (*YAML_SUFFIXES, ".ini", "")
        )
    return [path]


def _check_yaml_structure(path: Path, data: Any) -> list[str]:
    """Shape errors Ansible would report vaguely (or silently ignore)."""
    where = _display(path)
    if data is None:
        return [f"{where}: inventory file is empty"]
    if not isinstance(data, dict):
        return [
            f"{where}: top level must be a mapping of groups (e.g. 'all:'), not {type(data).__name__}"
        ]
    problems: list[str] = []

    def walk(group: str, body: Any) -> None:
        if body is None:
            return
        if not isinstance(body, dict):
            problems.append(f"{where}: group {group}: must be a mapping with hosts/children/vars")
            return
        if not GROUP_RE.match(group):
            problems.append(
                f"{where}: group {group}: invalid group name (letters, digits, underscore)"
            )
        for key in body:
            if key not in ("hosts", "children", "vars"):
                problems.append(
                    f"{where}: group {group}: {key}: unknown key (expected hosts, children or vars)"
                )
        hosts = body.get("hosts")
        if hosts is not None and not isinstance(hosts, dict):
            problems.append(f"{where}: group {group}: hosts: must be a mapping of host names")
        elif hosts:
            for host, hvars in hosts.items():
                if hvars is not None and not isinstance(hvars, dict):
                    problems.append(
                        f"{where}: host {host}: variables must be a mapping, not {type(hvars).__name__}"
                    )
        group_vars = body.get("vars")
        if group_vars is not None and not isinstance(group_vars, dict):
            problems.append(f"{where}: group {group}: vars: must be a mapping")
        children = body.get("children")
        if children is not None and not isinstance(children, dict):
            problems.append(f"{where}: group {group}: children: must be a mapping of group names")
        elif children:
            for child, child_body in children.items():
                walk(child, child_body)

    for group, body in data.items():
        walk(group, body)
    return problems


def _record_yaml_origins(path: Path, data: dict, origins: dict) -> None:
    def walk(group: str, body: Any) -> None:
        if not isinstance(body, dict):
            return
        for key in body.get("vars") or {}:
            origins.setdefault(("group", group, key), path)
        for host, hvars in (body.get("hosts") or {}).items():
            for key in hvars or {}:
                origins.setdefault(("host", str(host), key), path)
        for child, child_body in (body.get("children") or {}).items():
            walk(child, child_body)

    for group, body in data.items():
        walk(group, body)


def _record_vars_dir_origins(base: Path, origins: dict, vault: vaults.Vault | None) -> None:
    """group_vars/ and host_vars/ beside the inventory, as Ansible reads them."""
    for scope, dirname in (("group", "group_vars"), ("host", "host_vars")):
        vars_dir = base / dirname
        if not vars_dir.is_dir():
            continue
        for entry in sorted(vars_dir.iterdir()):
            files = sorted(entry.rglob("*")) if entry.is_dir() else [entry]
            name = entry.name if entry.is_dir() else entry.stem
            for file in files:
                if file.is_file() and file.suffix in (*YAML_SUFFIXES, ""):
                    data = read_yaml(file, vault)
                    if data is not None and not isinstance(data, dict):
                        raise BadInput(
                            f"{_display(file)}: must be a mapping of variables, "
                            f"not {type(data).__name__}"
                        )
                    for key in data or {}:
                        origins.setdefault((scope, name, key), file)


@contextlib.contextmanager
def _parsing_settings():
    """Settings for this process's own parse, restored afterwards so they never reach
    the ansible-playbook runs: fail on unparsable sources, and ignore any fact cache
    an ansible.cfg enables (cached facts are not inventory variables)."""
    wanted = {"ANSIBLE_INVENTORY_UNPARSED_FAILED": "True", "ANSIBLE_CACHE_PLUGIN": "memory"}
    saved = {key: os.environ.get(key) for key in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def load(path: str | os.PathLike, vault: vaults.Vault | None = None) -> Inventory:
    """Parse an inventory (YAML or INI file, or a directory) the way Ansible does. Files
    encrypted whole are decrypted with ``vault``; ``!vault`` values stay encrypted."""
    inv_path = Path(path).expanduser()
    if not inv_path.exists():
        raise BadInput(f"{_display(inv_path)}: inventory not found")
    inv_path = inv_path.resolve()
    origins: dict[tuple[str, str, str], Path] = {}
    problems: list[str] = []
    for file in _inventory_files(inv_path):
        if file.suffix not in YAML_SUFFIXES:
            read_text(file, vault)  # INI: Ansible parses it; here only "is it text"
        else:
            data = read_yaml(file, vault)
            problems += _check_yaml_structure(file, data)
            if isinstance(data, dict) and not problems:
                _record_yaml_origins(file, data, origins)
    if problems:
        raise InventoryInvalid(problems)
    _record_vars_dir_origins(inv_path if inv_path.is_dir() else inv_path.parent, origins, vault)

    # Ansible does the real parsing, so group_vars precedence and INI work as usual.
    with _parsing_settings():
        from ansible.errors import AnsibleError
        from ansible.inventory.manager import InventoryManager
        from ansible.parsing.dataloader import DataLoader
        from ansible.vars.manager import VariableManager

        loader = DataLoader()
        if vault is not None:
            loader.set_vault_secrets(vault.secrets())
        try:
            manager = InventoryManager(loader=loader, sources=[str(inv_path)])
        except AnsibleError as exc:
            first = str(exc.message if hasattr(exc, "message") else exc).splitlines()[0]
            raise BadInput(f"{_display(inv_path)}: cannot parse inventory: {first}") from None
        variables = VariableManager(loader=loader, inventory=manager)

    hostvars: dict[str, dict[str, Any]] = {}
    host_groups: dict[str, list[str]] = {}
    vaulted: list[tuple[str, str]] = []
    ciphertexts: dict[str, tuple[str, str]] = {}  # each distinct one, and its first place
    templar = _Templates(loader)
    for host in manager.get_hosts():
        if re.search(r"[\x00-\x1f\x7f]", host.name):
            raise BadInput(
                f"{_display(inv_path)}: host {host.name!r}: inventory host name: "
                "must not contain control characters"
            )
        try:
            resolved = variables.get_vars(host=host, include_hostvars=False)
        except (AnsibleError, ValueError, OSError) as exc:
            first = (str(getattr(exc, "message", "") or exc).splitlines() or ["?"])[0]
            raise BadInput(f"{_display(inv_path)}: host {host.name}: {first}") from None
        for key, value in resolved.items():
            for text in _ciphertexts(value):
                vaulted.append((host.name, key))
                ciphertexts.setdefault(text, (host.name, key))
        hostvars[host.name] = {
            k: templar.resolve(k, v, resolved)
            for k, v in resolved.items()
            if k not in _MAGIC and (not k.startswith("ansible_") or k in _CONNECTION_KEYS)
        }
        host_groups[host.name] = [
            g.name for g in host.get_groups() if g.name not in ("all", "ungrouped")
        ]
    groups = {
        name: sorted(h.name for h in group.get_hosts())
        for name, group in manager.groups.items()
        if name not in ("all", "ungrouped")
    }
    inv = Inventory(inv_path, hostvars, groups, origins, host_groups, manager, vault, vaulted)
    inv._vault_files = _vault_files(inv_path, origins)
    if vault is not None:
        # Before anything runs, the password must open every vaulted value (Ansible
        # would stop half-way otherwise); the plaintext is dropped at once.
        for text, (host, key) in ciphertexts.items():
            vault.decrypt(text, inv.where(host, key))
    return inv


def _ciphertexts(value: Any) -> list[str]:
    """The ciphertext of each ``!vault`` value in a variable (in a list or mapping too)."""
    if type(value).__name__ == "EncryptedString":
        return [str(plain(value))]
    if isinstance(value, dict):
        return [text for item in value.values() for text in _ciphertexts(item)]
    if isinstance(value, (list, tuple)):
        return [text for item in value for text in _ciphertexts(item)]
    return []


def _vault_files(inv_path: Path, origins: dict) -> dict[Path, str]:
    """Inventory files encrypted whole, each with its ciphertext's digest. An INI source
    has no origins recorded, so the inventory itself stands for it."""
    found: dict[Path, str] = {}
    for file in {*origins.values(), *_inventory_files(inv_path)}:
        with contextlib.suppress(OSError):
            raw = file.read_bytes()
            if vaults.is_encrypted(raw):
                found[file] = vaults.fingerprint(raw)
                if file.suffix not in YAML_SUFFIXES:
                    found[inv_path] = vaults.fingerprint(
                        (found.get(inv_path, "") + found[file]).encode()
                    )
    return found


class _Templates:
    """Templated inventory values, resolved as Ansible would before a run where that
    needs nothing but the inventory (``"{{ 51820 + 1 }}"``), so the checks see the value
    the roles will get. A template that needs facts or fails stays as it is (checked
    when the role runs). Only values the checks read are resolved, and never a
    variable a role declares ``no_log`` (a secret must not appear in a problem line)."""

    def __init__(self, loader):
        from homeforge.roles import role_specs, shared_variables

        self._loader = loader
        self._prefixes = tuple(spec.prefix for spec in role_specs())
        self._secret = {
            key
            for spec in role_specs()
            for key, option in spec.options.items()
            if option.get("no_log")
        } | {key for key, option in shared_variables().items() if option.get("no_log")}

    def resolve(self, key: str, value: Any, variables: dict) -> Any:
        out = plain(value)
        if not is_template(out) or key in self._secret or isinstance(out, Vaulted):
            return out
        if not (key in _CONNECTION_KEYS or key.startswith(self._prefixes) or key.endswith("_cidr")):
            return out
        from ansible.errors import AnsibleError
        from ansible.template import Templar

        try:
            return plain(Templar(loader=self._loader, variables=variables).template(value))
        except (AnsibleError, RecursionError, TypeError, ValueError):
            return out


# Variables Ansible adds to every host; ``groups`` alone holds every host name, so
# copying it per host would make loading quadratic in the number of hosts.
_MAGIC = {
    "groups",
    "group_names",
    "inventory_hostname",
    "inventory_hostname_short",
    "inventory_dir",
    "inventory_file",
    "omit",
    "playbook_dir",
    "play_hosts",
    "role_names",
}

_CONNECTION_KEYS = {
    "ansible_host",
    "ansible_port",
    "ansible_user",
    "ansible_connection",
    "ansible_ssh_private_key_file",
    "ansible_ssh_common_args",
    "ansible_python_interpreter",
}
