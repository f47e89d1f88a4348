"""The WireGuard mesh: hosts agree on its settings, one CIDR, usable pinned addresses,
endpoints or relays, no overlapping routed networks."""

from __future__ import annotations

import ipaddress
from typing import Any

from homeforge.inventory.model import Inventory, is_template
from homeforge.validation import interface_name_problem
from homeforge.wireguard.planner import load_mesh_utils
from homeforge.wireguard.settings import MeshSettings, setting_default


def check_mesh_settings_agree(inv: Inventory) -> list[str]:
    """One mesh per inventory: every host names the same group; members agree on the
    interface and the network (the role on each host builds its side from its own values)."""

    def values(key: str, hosts: list[str]) -> set[str]:
        return {str(inv.hostvars[h].get(key, setting_default(key))) for h in hosts}

    for host in inv.hosts:
        group = inv.hostvars[host].get("wireguard_group")
        if group is not None and not isinstance(group, str):
            return [
                f"{inv.where(host, 'wireguard_group')}: must be a group name, not {type(group).__name__}"
            ]
    groups = values("wireguard_group", inv.hosts)
    if len(groups) > 1:
        return [
            f"{inv.where(inv.hosts[-1], 'wireguard_group')}: hosts disagree on the mesh's group "
            f"({', '.join(sorted(groups))}); one inventory has one mesh"
        ]
    group = groups.pop()
    members = inv.group_members(group)
    problems = []
    for host in members:
        interface = inv.hostvars[host].get("wireguard_interface")
        problem = None if interface is None else interface_name_problem(interface)
        if problem and not is_template(interface):
            problems.append(f"{inv.where(host, 'wireguard_interface')}: {interface!r}: {problem}")
    for key, what, one in (
        ("wireguard_mesh_cidr", "the mesh network", "CIDR"),
        ("wireguard_interface", "the interface", "interface"),
    ):
        found = values(key, members)
        if len(found) > 1:
            problems.append(
                f"{inv.where(members[-1], key)}: hosts of group {group} disagree on {what} "
                f"({', '.join(sorted(found))}); one mesh has one {one}"
            )
    return problems


def check_mesh(inv: Inventory) -> list[str]:
    """The WireGuard mesh: one CIDR, usable pinned addresses, endpoints or relays, keys."""
    problems = check_mesh_settings_agree(inv)
    settings = MeshSettings.of(inv)
    if problems or not settings.members:
        return problems
    try:
        net = ipaddress.ip_network(settings.cidr, strict=True)
    except ValueError:
        return []  # check_cidrs reports it
    mesh = load_mesh_utils()
    # A value templated on facts is known only at run time (the role checks it then).
    known = {
        host: {k: v for k, v in inv.hostvars[host].items() if not is_template(v)}
        for host in settings.members
    }
    problems += _underlay_overlaps(inv, settings, net)
    try:
        hosts = mesh.hosts_from_vars(list(settings.members), known)
    except mesh.MeshError as exc:
        return [*problems, f"{inv.where(exc.host, exc.key)}: {exc.message}"]
    try:
        mesh.validate(settings.cidr, hosts)
        mesh.allocate(settings.cidr, hosts)
    except mesh.MeshError as exc:
        problems.append(f"{inv.where(exc.host, exc.key)}: {exc.message}")
    return problems + _routed_overlaps(inv, hosts)


def _underlay_overlaps(inv: Inventory, settings: MeshSettings, net: Any) -> list[str]:
    problems = []
    for host in settings.members:
        try:
            # the address as written: a vaulted one is not decrypted for a check
            underlay = ipaddress.ip_address(str(inv.hostvars[host].get("ansible_host", host)))
        except ValueError:
            continue
        if underlay in net:
            problems.append(
                f"{inv.where(host, 'wireguard_mesh_cidr')}: mesh {settings.cidr} overlaps "
                f"the host's own address {underlay}"
            )
    return problems


def _routed_overlaps(inv: Inventory, hosts: list) -> list[str]:
    """Networks behind hosts (wireguard_extra_allowed_ips) routed to one host only."""
    problems = []
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


CHECKS = [check_mesh]
