"""Load an Ansible inventory and check it against homeforge's schema.

Every problem becomes one line ``FILE: host HOST: KEY: what is wrong`` so an
operator can go straight to the place to fix. ``homeforge apply`` runs the same
check first and applies nothing when it fails.

Role variables are typed by each role's ``meta/argument_specs.yml`` (the spec
Ansible itself enforces when the role starts), so the schema lives in one place.
Checks that span hosts (duplicate addresses, CIDRs) are plain functions listed in
:data:`CROSS_HOST_CHECKS`; later features add theirs there.
"""

from __future__ import annotations

import contextlib
import difflib
import ipaddress
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from homeforge import paths
from homeforge.errors import BadInput, InventoryInvalid

HOSTNAME_RE = re.compile(
    r"^(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$"
)
GROUP_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
YAML_SUFFIXES = (".yml", ".yaml")
# Groups that several roles look at; k3s-ansible's names are accepted as they are.
EXCLUSIVE_GROUPS = (("server", "agent"),)


@dataclass
class Inventory:
    """An inventory as homeforge sees it: hosts with their variables, groups, origins."""

    path: Path
    hostvars: dict[str, dict[str, Any]]
    groups: dict[str, list[str]]
    _origins: dict[tuple[str, str, str], Path] = field(default_factory=dict, repr=False)
    _host_groups: dict[str, list[str]] = field(default_factory=dict, repr=False)
    _manager: Any = field(default=None, repr=False)

    @property
    def hosts(self) -> list[str]:
        return list(self.hostvars)

    def match(self, pattern: str) -> list[str]:
        """Hosts selected by an Ansible pattern (``--limit``); BadInput when none."""
        matched = [h.name for h in self._manager.get_hosts(pattern)] if self._manager else []
        if not matched:
            raise BadInput(f"--limit '{pattern}' matches no host in {_display(self.path)}")
        return matched

    def groups_of(self, host: str) -> list[str]:
        return self._host_groups.get(host, [])

    def origin(self, host: str, key: str) -> Path:
        """The file that sets ``key`` for ``host`` (most specific first)."""
        for scope, name in [
            ("host", host),
            *(("group", g) for g in reversed(self.groups_of(host))),
            ("group", "all"),
        ]:
            found = self._origins.get((scope, name, key))
            if found is not None:
                return found
        return self.path

    def address(self, host: str) -> str:
        return str(self.hostvars[host].get("ansible_host", host))

    def where(self, host: str, key: str) -> str:
        return f"{_display(self.origin(host, key))}: host {host}: {key}"


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# --------------------------------------------------------------------------- loading


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text()
    except OSError as exc:
        raise BadInput(f"{_display(path)}: cannot read: {exc.strerror}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise BadInput(f"{_display(path)}{where}: malformed YAML: {problem}") from None


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


def _record_vars_dir_origins(base: Path, origins: dict) -> None:
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
                    data = _read_yaml(file)
                    if isinstance(data, dict):
                        for key in data:
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


def load(path: str | os.PathLike) -> Inventory:
    """Parse an inventory (YAML or INI file, or a directory) the way Ansible does."""
    inv_path = Path(path).expanduser()
    if not inv_path.exists():
        raise BadInput(f"{_display(inv_path)}: inventory not found")
    inv_path = inv_path.resolve()
    origins: dict[tuple[str, str, str], Path] = {}
    problems: list[str] = []
    for file in _inventory_files(inv_path):
        if file.suffix in YAML_SUFFIXES:
            data = _read_yaml(file)
            problems += _check_yaml_structure(file, data)
            if isinstance(data, dict) and not problems:
                _record_yaml_origins(file, data, origins)
    if problems:
        raise InventoryInvalid(problems)
    _record_vars_dir_origins(inv_path if inv_path.is_dir() else inv_path.parent, origins)

    # Ansible does the real parsing, so group_vars precedence and INI work as usual.
    with _parsing_settings():
        from ansible.errors import AnsibleError
        from ansible.inventory.manager import InventoryManager
        from ansible.parsing.dataloader import DataLoader
        from ansible.vars.manager import VariableManager

        loader = DataLoader()
        try:
            manager = InventoryManager(loader=loader, sources=[str(inv_path)])
        except AnsibleError as exc:
            first = str(exc.message if hasattr(exc, "message") else exc).splitlines()[0]
            raise BadInput(f"{_display(inv_path)}: cannot parse inventory: {first}") from None
        variables = VariableManager(loader=loader, inventory=manager)

    hostvars: dict[str, dict[str, Any]] = {}
    host_groups: dict[str, list[str]] = {}
    for host in manager.get_hosts():
        resolved = variables.get_vars(host=host, include_hostvars=False)
        hostvars[host.name] = _plain(
            {
                k: v
                for k, v in resolved.items()
                if not k.startswith("ansible_") or k in _CONNECTION_KEYS
            }
        )
        host_groups[host.name] = [
            g.name for g in host.get_groups() if g.name not in ("all", "ungrouped")
        ]
    groups = {
        name: sorted(h.name for h in group.get_hosts())
        for name, group in manager.groups.items()
        if name not in ("all", "ungrouped")
    }
    return Inventory(inv_path, hostvars, groups, origins, host_groups, manager)


_CONNECTION_KEYS = {
    "ansible_host",
    "ansible_port",
    "ansible_user",
    "ansible_connection",
    "ansible_ssh_private_key_file",
    "ansible_ssh_common_args",
    "ansible_python_interpreter",
}


def _plain(value: Any) -> Any:
    """Strip Ansible's tagged/lazy containers down to plain Python types."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return str(value)


# --------------------------------------------------------------------------- role specs


@dataclass(frozen=True)
class RoleSpec:
    role: str
    prefix: str
    options: dict[str, dict[str, Any]]


def role_specs() -> list[RoleSpec]:
    """Argument specs of every role that has one, longest prefix first."""
    specs = []
    for spec_file in sorted((paths.content_root() / "roles").glob("*/meta/argument_specs.yml")):
        role = spec_file.parent.parent.name
        data = yaml.safe_load(spec_file.read_text()) or {}
        options = (data.get("argument_specs", {}).get("main", {}) or {}).get("options", {}) or {}
        specs.append(RoleSpec(role, f"{role}_", options))
    return sorted(specs, key=lambda s: -len(s.prefix))


def _loose(option: dict[str, Any]) -> dict[str, Any]:
    """A spec option for checking types only: inventories may leave anything out."""
    out = {k: v for k, v in option.items() if k not in ("required", "default", "description")}
    if "options" in out:
        out["options"] = {k: _loose(v) for k, v in out["options"].items()}
    return out


def _is_template(value: Any) -> bool:
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, dict):
        return any(_is_template(v) for v in value.values())
    if isinstance(value, list):
        return any(_is_template(v) for v in value)
    return False


def check_role_variables(inv: Inventory, specs: list[RoleSpec]) -> list[str]:
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

    problems = []
    for host, hvars in inv.hostvars.items():
        for key, value in sorted(hvars.items()):
            spec = next((s for s in specs if key.startswith(s.prefix)), None)
            if spec is None:
                continue
            if key not in spec.options:
                near = difflib.get_close_matches(key, spec.options, n=1)
                hint = (
                    f" (did you mean {near[0]}?)"
                    if near
                    else f" (role {spec.role} has no such variable)"
                )
                problems.append(f"{inv.where(host, key)}: unknown variable{hint}")
                continue
            if _is_template(value):
                continue  # resolved by Ansible at run time; the role's own spec checks it then
            result = ArgumentSpecValidator({key: _loose(spec.options[key])}).validate({key: value})
            for message in result.error_messages:
                problems.append(f"{inv.where(host, key)}: {message}")
    return problems


# --------------------------------------------------------------------------- host checks


def check_connection(inv: Inventory) -> list[str]:
    problems = []
    for host, hvars in inv.hostvars.items():
        address = hvars.get("ansible_host", host)
        if not isinstance(address, str) or not _is_address(address):
            problems.append(
                f"{inv.where(host, 'ansible_host')}: '{address}' is not an IP address or host name"
            )
        port = hvars.get("ansible_port", 22)
        try:
            port_ok = 1 <= int(port) <= 65535 and str(int(port)) == str(port).strip()
        except (TypeError, ValueError):
            port_ok = False
        if not port_ok:
            problems.append(
                f"{inv.where(host, 'ansible_port')}: '{port}' is not a TCP port (1-65535)"
            )
        key_file = hvars.get("ansible_ssh_private_key_file")
        if (
            isinstance(key_file, str)
            and not _is_template(key_file)
            and not Path(key_file).expanduser().is_file()
        ):
            problems.append(
                f"{inv.where(host, 'ansible_ssh_private_key_file')}: {key_file}: no such file"
            )
    return problems


def _is_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        # A dotted-quad that did not parse as an IP is a bad IP, not a host name.
        return not re.fullmatch(r"[0-9.]+", value) and bool(HOSTNAME_RE.match(value))


def check_duplicate_addresses(inv: Inventory) -> list[str]:
    seen: dict[tuple[str, str], str] = {}
    problems = []
    for host, hvars in inv.hostvars.items():
        if hvars.get("ansible_connection") in ("local", "podman", "containers.podman.podman"):
            continue
        endpoint = (str(hvars.get("ansible_host", host)), str(hvars.get("ansible_port", 22)))
        if endpoint in seen:
            problems.append(
                f"{inv.where(host, 'ansible_host')}: {endpoint[0]}:{endpoint[1]} is already used by host {seen[endpoint]}"
            )
        else:
            seen[endpoint] = host
    return problems


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
                if _is_template(cidr):
                    continue
                try:
                    ipaddress.ip_network(str(cidr), strict=True)
                except ValueError as exc:
                    problems.append(
                        f"{inv.where(host, name)}: '{cidr}' is not a valid CIDR ({exc})"
                    )
    return problems


def check_groups(inv: Inventory) -> list[str]:
    problems = []
    for host in inv.hosts:
        groups = set(inv.groups_of(host))
        for exclusive in EXCLUSIVE_GROUPS:
            both = [g for g in exclusive if g in groups]
            if len(both) > 1:
                problems.append(
                    f"{_display(inv.path)}: host {host}: groups: in both {' and '.join(both)} (a host is one or the other)"
                )
    return problems


def role_default(role: str, key: str) -> Any:
    """A role's default for a variable, as written in defaults/main.yml (not templated)."""
    defaults = paths.content_root() / "roles" / role / "defaults" / "main.yml"
    return (yaml.safe_load(defaults.read_text()) or {}).get(key) if defaults.is_file() else None


def check_mesh(inv: Inventory) -> list[str]:
    """The WireGuard mesh: one CIDR, usable pinned addresses, endpoints or relays, keys."""
    from homeforge.meshplan import load_mesh_utils

    mesh = load_mesh_utils()
    default_group = role_default("wireguard", "wireguard_group") or "all"
    default_cidr = role_default("wireguard", "wireguard_mesh_cidr")
    groups = {str(hv.get("wireguard_group", default_group)) for hv in inv.hostvars.values()}
    problems = []
    for group in sorted(groups):
        members = inv.hosts if group == "all" else inv.groups.get(group, [])
        if not members:
            continue
        cidrs = {str(inv.hostvars[h].get("wireguard_mesh_cidr", default_cidr)) for h in members}
        if len(cidrs) > 1:
            problems.append(
                f"{inv.where(members[-1], 'wireguard_mesh_cidr')}: hosts of group {group} disagree "
                f"on the mesh network ({', '.join(sorted(cidrs))}); one mesh has one CIDR"
            )
            continue
        cidr = cidrs.pop()
        try:
            net = ipaddress.ip_network(cidr, strict=True)
        except ValueError:
            continue  # check_cidrs reports it
        for host in members:
            try:
                underlay = ipaddress.ip_address(inv.address(host))
            except ValueError:
                continue
            if underlay in net:
                problems.append(
                    f"{inv.where(host, 'wireguard_mesh_cidr')}: mesh {cidr} overlaps the host's own address {underlay}"
                )
        hosts = mesh.hosts_from_vars(members, inv.hostvars)
        try:
            mesh.validate(cidr, hosts)
            mesh.allocate(cidr, hosts)
        except mesh.MeshError as exc:
            problems.append(f"{inv.where(exc.host, exc.key)}: {exc.message}")
        routed: dict[Any, str] = {}
        for host in hosts:
            for extra in host.extra_allowed_ips:
                try:
                    extra_net = ipaddress.ip_network(extra, strict=True)
                except ValueError:
                    continue
                for seen, owner in routed.items():
                    if (
                        owner != host.name
                        and seen.version == extra_net.version
                        and seen.overlaps(extra_net)
                    ):
                        problems.append(
                            f"{inv.where(host.name, 'wireguard_extra_allowed_ips')}: {extra} "
                            f"overlaps {seen} routed to host {owner}"
                        )
                routed[extra_net] = host.name
    return problems


def check_services(inv: Inventory) -> list[str]:
    """The services the mesh cutover moves (homeforge_services); see services.py."""
    from homeforge.services import check_services as check

    return check(inv)


CROSS_HOST_CHECKS: list[Callable[[Inventory], list[str]]] = [
    check_connection,
    check_duplicate_addresses,
    check_cidrs,
    check_groups,
    check_mesh,
    check_services,
]


def check(inv: Inventory) -> list[str]:
    """Every problem in the inventory, one line each, in a stable order."""
    if not inv.hostvars:
        return [f"{_display(inv.path)}: inventory defines no hosts"]
    problems: list[str] = []
    for fn in CROSS_HOST_CHECKS:
        problems += fn(inv)
    problems += check_role_variables(inv, role_specs())
    return problems


def load_and_check(path: str | os.PathLike) -> Inventory:
    inv = load(path)
    problems = check(inv)
    if problems:
        raise InventoryInvalid(problems)
    return inv
