# Copyright: homeforge maintainers
# Apache License 2.0
"""Filters for the WireGuard mesh (logic in module_utils/mesh.py)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: wireguard_mesh
short_description: Plan a WireGuard mesh (addresses and peers) from host variables
description:
  - Returns, for every member host, its mesh address, prefix, listen port and peer list.
  - Addresses are stable (explicit, then the host's current one, then a hash slot).
  - Hosts with C(wireguard_reachable=false) are reached through their C(wireguard_relay).
positional: members, cidr, need_keys, known
options:
  _input:
    description: C(hostvars).
    type: dict
    required: true
  members:
    description: Names of the hosts in the mesh.
    type: list
    elements: str
    required: true
  cidr:
    description: The mesh network.
    type: str
    required: true
  need_keys:
    description: Fail when a member's public key is unknown (false in check mode, where new
      hosts have no key yet).
    type: bool
    default: true
  known:
    description:
      - Public key and address per host, read live by C(homeforge apply --limit) for hosts the
        run leaves out; they win over cached C(wireguard_facts) (a key rotated elsewhere).
    type: dict
    default: {}
"""

EXAMPLES = r"""
plan: "{{ hostvars | homeforge.homelab.wireguard_mesh(groups['all'], '10.77.0.0/24') }}"
"""

RETURN = r"""
_value:
  description: Host name to C({address, prefix, port, relay_for, peers}).
  type: dict
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.homeforge.homelab.plugins.module_utils.mesh import (
    MESH_KEYS,
    MeshError,
    hosts_from_vars,
    plan,
)


def wireguard_mesh(hostvars, members, cidr, need_keys=True, known=None):
    # Read only the keys the planner uses: copying all of hostvars[name] would make
    # Ansible template every variable of every host.
    plain = {}
    for name in members:
        source = hostvars.get(name, {})
        plain[name] = {key: source[key] for key in MESH_KEYS if key in source}
        if known and name in known:
            plain[name]["wireguard_facts"] = dict(known[name])
    try:
        return plan(str(cidr), hosts_from_vars(list(members), plain), need_keys=bool(need_keys))
    except MeshError as exc:
        raise AnsibleFilterError(f"wireguard mesh: {exc}") from None


class FilterModule:
    def filters(self):
        return {"wireguard_mesh": wireguard_mesh}
