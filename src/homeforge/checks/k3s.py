"""The K3s cluster: groups (k3s-ansible's names), version, and the settings that go
into each node's config.yaml (rules in plugins/module_utils/k3s.py)."""

from __future__ import annotations

import json
import shlex

import yaml

from homeforge.checks.rules import digest_map_problem, rule_problems
from homeforge.inventory.groups import server_group
from homeforge.inventory.model import Inventory, Vaulted, is_template
from homeforge.module_utils import load
from homeforge.validation import (
    absolute_path_problem,
    address_problem,
    https_url_problem,
    version_problem,
)

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
                f"{inv.where(host, 'k3s_version')}: {version!r} is not a K3s version (e.g. v1.36.4+k3s1)"
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
            # A vaulted value's content is unknown (two ciphertexts of one token differ).
            if key in inv.hostvars[host] and not isinstance(inv.hostvars[host][key], Vaulted):
                values.setdefault(repr(inv.hostvars[host][key]), host)
        if len(values) > 1:
            hosts = sorted(values.values())
            shown = "" if key == "k3s_token" else " (" + ", ".join(sorted(values)) + ")"
            problems.append(
                f"{inv.where(hosts[-1], key)}: differs between {hosts[0]} and {hosts[-1]}{shown}; "
                "one cluster has one value"
            )
    return problems


# k3s-io/k3s-ansible's variables, and what homeforge reads for each.
K3S_ANSIBLE = {
    "token": "k3s_token",
    "api_endpoint": "k3s_api_endpoint",
    "api_port": "k3s_api_port",
    "extra_server_args": "k3s_server_config",
    "extra_agent_args": "k3s_agent_config",
    "server_config_yaml": "k3s_server_config",
    "agent_config_yaml": "k3s_agent_config",
    "airgap_dir": "k3s_artifacts_dir",
}


def flags_to_config(args: str) -> dict:
    """K3s command-line flags as config.yaml keys (K3s's own mapping: a repeated flag is a
    list, a flag without a value is true)."""
    config: dict = {}
    words = shlex.split(args)
    index = 0
    while index < len(words):
        word = words[index]
        index += 1
        if not word.startswith("--"):
            raise ValueError(f"{word!r} is not a --flag")
        name, has_value, value = word[2:].partition("=")
        if not has_value:
            if index < len(words) and not words[index].startswith("--"):
                value, index = words[index], index + 1
            else:
                value = True
        if name in config:
            previous = config[name]
            config[name] = [*(previous if isinstance(previous, list) else [previous]), value]
        else:
            config[name] = value
    return config


def _instead(name: str, value) -> str:
    target = K3S_ANSIBLE[name]
    if name == "token":
        return f"{target} (in a vault, as the token is a secret)"
    if isinstance(value, Vaulted):
        return f"{target} (the same vaulted value)"
    try:
        if name.startswith("extra_") and isinstance(value, str):
            value = flags_to_config(value)
        elif name.endswith("_config_yaml") and isinstance(value, str):
            value = yaml.safe_load(value)
    except (ValueError, yaml.YAMLError) as exc:
        # the parser's message may quote the value, which may hold a secret
        return f"{target} (its value could not be read: {type(exc).__name__})"
    notes = []
    if isinstance(value, dict):
        value, notes = _without_secrets(value)
    shown = json.dumps(value, separators=(", ", ": ")) + "".join(notes)
    extra = ""
    if name == "airgap_dir":
        extra = (
            " (the directory also needs the release's sha256sum-<arch>.txt: every file is checked)"
        )
    return f"{target}: {shown}{extra}"


def _without_secrets(config: dict) -> tuple[dict, list[str]]:
    """The converted config with every secret's value masked, the role-managed keys left out,
    and a note for each (the token goes to k3s_token, never into k3s_*_config)."""
    k3s = load("k3s")
    shown, notes = {}, []
    for key, value in config.items():
        flag = k3s.ALIASES.get(str(key).rstrip("+"), str(key).rstrip("+"))
        if flag == "token":
            notes.append(f"; its {key} goes to k3s_token (in a vault)")
        elif flag in k3s.MANAGED:
            notes.append(f"; leave out {key} (homeforge sets it)")
        elif flag in k3s.SECRET_FLAGS:
            shown[key] = "<secret: vault it>"
        else:
            shown[key] = value
    return shown, notes


def check_k3s_ansible_variables(inv: Inventory) -> list[str]:
    """An inventory written for k3s-ansible: each of its variables that homeforge reads
    under another name is named once per file, with what to write instead."""
    problems, seen = [], set()
    for host in inv.hosts:
        for name in K3S_ANSIBLE:
            if name not in inv.hostvars[host]:
                continue
            origin = inv.origin(host, name)
            if (origin, name) in seen:
                continue
            seen.add((origin, name))
            value = inv.hostvars[host][name]
            problems.append(
                f"{inv.where(host, name)}: k3s-ansible's variable; homeforge reads "
                f"{K3S_ANSIBLE[name]}: write {_instead(name, value)}"
            )
    return problems


# Where the release comes from and what it is checked against; the version also names
# the directory it is installed to (the cluster's nodes get K3s's own form checked above).
RELEASE_RULES = {
    "k3s_version": version_problem,
    "k3s_release_url": https_url_problem,
    "k3s_sha256": digest_map_problem,
    "k3s_artifacts_dir": absolute_path_problem,
}


def check_k3s_release(inv: Inventory) -> list[str]:
    problems = []
    for host, hvars in inv.hostvars.items():
        problems += rule_problems(inv, host, hvars, RELEASE_RULES, ("k3s_artifacts_dir",))
    return problems


CHECKS = [check_groups, check_cluster_settings, check_k3s_ansible_variables, check_k3s_release]
