"""The K3s cluster: groups (k3s-ansible's names), version, and the settings that go
into each node's config.yaml (rules in plugins/module_utils/k3s.py)."""

from __future__ import annotations

from homeforge.cluster import server_group
from homeforge.inventory.model import Inventory, is_template
from homeforge.module_utils import load
from homeforge.validation import address_problem

EXCLUSIVE_GROUPS = (("server", "agent"),)


def check_groups(inv: Inventory) -> list[str]:
    problems = []
    for host in inv.hosts:
        groups = set(inv.groups_of(host))
        for exclusive in EXCLUSIVE_GROUPS:
            both = [g for g in exclusive if g in groups]
            if len(both) > 1:
                problems.append(
                    f"{inv.shown}: host {host}: groups: in both {' and '.join(both)} (a host is one or the other)"
                )
    servers = inv.group_members(server_group(inv))
    agents = inv.group_members("agent")
    if agents and not servers:
        problems.append(
            f"{inv.where(agents[0], 'groups')}: agents ({', '.join(agents)}) but no host in group "
            f"{server_group(inv)}: an agent needs a server to join"
        )
    return problems


def check_cluster_settings(inv: Inventory) -> list[str]:
    """Versions, config keys per kind, and critical flags equal on every server."""
    rules = load("k3s")
    servers = inv.group_members(server_group(inv))
    cluster = [*servers, *inv.group_members("agent")]
    problems = []
    for host in cluster:
        version = inv.hostvars[host].get("k3s_version")
        if (
            isinstance(version, str)
            and not is_template(version)
            and not rules.VERSION_RE.match(version)
        ):
            problems.append(
                f"{inv.where(host, 'k3s_version')}: {version!r} is not a K3s version (e.g. v1.31.4+k3s1)"
            )
        endpoint = inv.hostvars[host].get("k3s_api_endpoint")
        if endpoint and not is_template(endpoint):
            problem = address_problem(endpoint)  # it goes into config.yaml (server, tls-san)
            if problem:
                problems.append(f"{inv.where(host, 'k3s_api_endpoint')}: {endpoint!r}: {problem}")
        kind = "server" if host in servers else "agent"
        key = f"k3s_{kind}_config"
        settings = inv.hostvars[host].get(key)
        if settings is None or is_template(settings):
            continue
        for name, why in rules.config_key_problems(settings, kind):
            problems.append(f"{inv.where(host, key)}: {name}{': ' if name else ''}{why}")
    problems += _critical_mismatch(inv, rules, servers)
    problems += _differing(
        inv, cluster, ("k3s_version", "k3s_token", "k3s_api_endpoint", "k3s_api_port")
    )
    return problems


def _critical_mismatch(inv: Inventory, rules, servers: list[str]) -> list[str]:
    seen: dict = {}
    for host in servers:
        settings = inv.hostvars[host].get("k3s_server_config") or {}
        if not isinstance(settings, dict) or is_template(settings):
            continue
        values = rules.critical_values(settings)
        if seen and values != seen["values"]:
            flags = sorted(k for k in values if values[k] != seen["values"][k])
            return [
                f"{inv.where(host, 'k3s_server_config')}: {', '.join(flags)} differ from server "
                f"{seen['host']}: K3s refuses a server whose critical flags differ"
            ]
        seen = seen or {"host": host, "values": values}
    return []


def _differing(inv: Inventory, cluster: list[str], keys: tuple[str, ...]) -> list[str]:
    problems = []
    for key in keys:
        values = {}
        for host in cluster:
            if key in inv.hostvars[host]:
                values.setdefault(repr(inv.hostvars[host][key]), host)
        if len(values) > 1:
            hosts = sorted(values.values())
            shown = "" if key == "k3s_token" else " (" + ", ".join(sorted(values)) + ")"
            problems.append(
                f"{inv.where(hosts[-1], key)}: differs between {hosts[0]} and {hosts[-1]}{shown}; "
                "one cluster has one value"
            )
    return problems


CHECKS = [check_groups, check_cluster_settings]
